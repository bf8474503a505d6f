"""Backends turn a topology into running things: ``loopback`` (no root) and later ``mininet``."""

from .base import BACKENDS, Backend, choose_backend, mininet_status

__all__ = ["BACKENDS", "Backend", "choose_backend", "mininet_status"]
