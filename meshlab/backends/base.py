"""The one small interface every backend implements, and ``backend="auto"``.

A backend realizes a topology: it allocates the cluster's addresses (:meth:`Backend.plan`),
checks they are free, starts processes in the right place
(:meth:`Backend.spawn`) and removes whatever it created (:meth:`Backend.teardown`). The lab never
branches on which backend it has.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from typing import Callable

from ..errors import LabError
from ..net.cluster import ClusterNet, PodAddr
from ..topology.model import Topology

BACKENDS = ("auto", "loopback", "mininet")


class Backend(ABC):
    name: str = "?"

    def __init__(self, reason: str = ""):
        self.reason = reason          # why this backend was chosen, said once to the learner
        self.notes: list[str] = []    # what else the learner should hear (a skipped address block)

    @abstractmethod
    def plan(self, topo: Topology) -> ClusterNet:
        """Allocate every pod IP, node IP and service VIP, all free to use; raise
        :class:`~meshlab.errors.PortConflict` naming the pod, address and culprit otherwise."""

    def prepare(self, record: Callable[[int, str, str], None]) -> None:
        """Get ready to spawn (start helpers); ``record(pid, name, role)`` each process started."""

    def replan(self, topo: Topology) -> ClusterNet:
        """Addresses for pods added to a running lab; existing pods keep theirs."""
        raise NotImplementedError(f"the {self.name} backend cannot add pods to a running lab")

    @abstractmethod
    def spawn(self, where: "PodAddr | str", module: str, log_path: str):
        """Run ``python -m module`` in the network of ``where`` — a pod, or a node given by its
        name — stdin/stdout piped, stderr to ``log_path``; returns a ``subprocess.Popen``-like
        handle."""

    @abstractmethod
    def teardown(self) -> None:
        """Remove everything the backend created (idempotent)."""


def mininet_status() -> tuple[bool, str]:
    """Can the mininet backend run here? (ok, reason in plain words)."""
    if os.geteuid() != 0:
        return False, "mininet needs root"
    if shutil.which("mnexec") is None:
        return False, "mininet's mnexec is not installed (Debian: apt-get install mininet)"
    return False, "the mininet backend is not built yet"


def choose_backend(name: str) -> Backend:
    from .loopback import LoopbackBackend
    if name not in BACKENDS:
        raise LabError(f"unknown backend {name!r}; allowed: {', '.join(BACKENDS)}")
    ok, why = mininet_status()
    if name == "mininet":
        if not ok:
            raise LabError(f"backend 'mininet' cannot run here: {why}; use backend='loopback'")
    if name == "auto":
        return LoopbackBackend(reason=f"{why} — using the loopback backend")
    return LoopbackBackend(reason="asked for the loopback backend")
