"""The one small interface every backend implements (choosing one is :mod:`.choice`).

A backend realizes a topology: it allocates the cluster's addresses (:meth:`Backend.plan`),
checks they are free, starts processes in the right place
(:meth:`Backend.spawn`) and removes whatever it created (:meth:`Backend.teardown`). The lab never
branches on which backend it has.
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from typing import Callable

from ..errors import LabError
from ..net.cluster import ClusterNet, PodAddr
from ..topology.model import Links, Topology


class Backend(ABC):
    name: str = "?"

    def __init__(self, reason: str = ""):
        self.reason = reason  # why this backend was chosen, said once to the learner
        self.notes: list[str] = []  # what else the learner should hear (a skipped address block)

    def note(self, text: str) -> None:
        """Something the learner should hear, said once (a lab started again says it once more)."""
        if text not in self.notes:
            self.notes.append(text)

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
    def spawn(self, where: "PodAddr | str", module: str, log_path: str, net: ClusterNet | None = None):
        """Run ``python -m module`` in the network of ``where`` — a pod, or a node given by its
        name — stdin/stdout piped, stderr to ``log_path``; returns a ``subprocess.Popen``-like
        handle. A backend that forks may hand ``net`` (the cluster network the process is about
        to be given) down at fork time: then the handle's ``net_key`` names it, and the spec
        can say ``{"inherited": net_key}`` instead of carrying it whole."""

    def spawn_many(self, jobs: "list[tuple[PodAddr | str, str, str]]", net: ClusterNet | None = None) -> list:
        """:meth:`spawn` for each ``(where, module, log_path)``, in order; a backend that forks
        overlaps them. All or nothing: if one fails, none of the others is left running."""
        handles = []
        try:
            for where, module, log_path in jobs:
                handles.append(self.spawn(where, module, log_path, net))
        except BaseException:
            for h in handles:
                h.kill()
            raise
        return handles

    @abstractmethod
    def teardown(self) -> None:
        """Remove everything the backend created (idempotent)."""

    def sync(self, net: ClusterNet) -> None:
        """The lab's addresses or meshes changed (a mode change, a waypoint): make the network
        match — the mininet backend (re)loads iptables rules; loopback has nothing to do."""

    def connect(self, where: str, address: tuple[str, int], timeout: float = 10.0) -> socket.socket:
        """A TCP connection to ``address`` opened from the network of a pod or node (``where``, a
        name), as a process there would open it. Loopback has one network: ``where`` changes
        nothing."""
        return socket.create_connection(address, timeout=timeout)

    def exec(self, where: str, cmd: str, timeout: float = 30.0) -> str:
        """Run a shell command in the network of a pod or node; its output."""
        raise LabError(
            f"the {self.name} backend has no per-pod network to run commands in; "
            "use backend='mininet' (root) for lab.exec"
        )

    def capture(
        self,
        where: str,
        seconds: float | None = None,
        packets: int | None = None,
        during=None,
        intf: str = "eth0",
        path: str | None = None,
    ):
        """Capture packets on a pod's or node's link; a :class:`~meshlab.telemetry.pcap.Capture`."""
        raise LabError(f"the {self.name} backend has no links to capture on; use backend='mininet' (root)")


def shaped_links(topo: Topology) -> dict[str, Links]:
    """The nodes whose uplink the topology shapes (``links:``, per node or for all), and how."""
    return {n.name: lk for n in topo.nodes if (lk := topo.node_links(n.name))}
