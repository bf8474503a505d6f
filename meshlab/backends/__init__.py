"""Backends turn a topology into running things: ``loopback`` (no root) and ``mininet`` (root).

- :mod:`.base` — the one small interface every backend implements (plan, spawn, exec, teardown).
- :mod:`.loopback` — every pod an address in 127.0.0.0/8, processes on this machine.
- :mod:`.mininet` — every node and pod a network namespace, veth links, bridges, real iptables
  (:mod:`.rules` writes the rules, :mod:`.capture` runs tcpdump in a namespace, :mod:`.shaping`
  shapes node uplinks, :mod:`.mininet_record` records what a lab created and removes it).
- :mod:`.forking` — pods forked from a warm zygote (:mod:`.zygote`, the fork server itself, run as
  ``python -m meshlab.backends.zygote``; it imports the apps and proxies by name);
  :mod:`.process` — one pod's process and its log.
- :mod:`.state` — what a running lab leaves on disk, address slots, and ``meshlab clean``'s sweep.
- :mod:`.choice` — ``backend="auto"``: which backend can run here, and why; clean-up over all of them.

Layers inside: ``base``, ``state``, ``process``, ``rules``, ``shaping``, ``zygote`` < ``forking``,
``capture``, ``mininet_record`` < ``loopback``, ``mininet`` < ``choice``; no backend imports another.
"""

from .base import Backend
from .choice import BACKENDS, choose_backend, clean, mininet_status

__all__ = ["BACKENDS", "Backend", "choose_backend", "clean", "mininet_status"]
