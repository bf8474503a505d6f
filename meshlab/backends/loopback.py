"""The loopback backend: no root, no namespaces — every pod is an address in 127.0.0.0/8.

Linux routes all of 127.0.0.0/8 to the loopback interface, so each pod gets its own IP and binds
its ports there, and sees its callers' pod IPs. A lab holds a slot *s* (an flock'd file) and uses
the block 127.s.0.0/16: node *i* is 127.s.i.1, its pods 127.s.i.2 upwards (like a per-node pod
CIDR), its pod-local addresses (the pod's own "localhost", where an app listens behind its
sidecar) 127.s.(128+i).h, and service VIPs are 127.s.250.x. kube-proxy's endpoint choice happens in the pod's dialer
(:mod:`meshlab.net.dialer`), since there is no iptables to do it. Pod processes are forked from a
zygote (:mod:`meshlab.backends.zygote`) that has the apps imported already.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import replace

import psutil

from ..errors import LabError, PortConflict
from ..net.cluster import (
    ADMIN_PORT,
    HBONE_PORT,
    INBOUND_PORT,
    OUTBOUND_PORT,
    ClusterNet,
    PodAddr,
    ServiceAddr,
)
from ..topology.model import Topology
from .base import Backend, shaped_links
from .forking import Zygote, running_zygote
from .state import Slot

VIP_OCTET = 250
LOCAL_OFFSET = 128  # pod-local ("localhost in the pod") addresses: 127.s.(128+i).h
MAX_NODES = 120
MAX_BLOCK_TRIES = 5
PROXY_PORTS = (OUTBOUND_PORT, INBOUND_PORT, HBONE_PORT, ADMIN_PORT)


class LoopbackBackend(Backend):
    name = "loopback"

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.slot: Slot | None = None
        self.net: ClusterNet | None = None
        self.zygote: Zygote | None = None
        self._record = None

    def plan(self, topo: Topology) -> ClusterNet:
        """Take a free address block and lay the cluster out in it. A block where some address a
        pod needs is taken by another process is skipped (and said so in :attr:`notes`); after
        ``MAX_BLOCK_TRIES`` such blocks, :class:`PortConflict` names the culprit."""
        if self.slot is not None and self.net is not None:
            return self.net
        tried: list[Slot] = []
        try:
            for _ in range(MAX_BLOCK_TRIES):
                slot = Slot()
                tried.append(slot)
                net = self._layout(topo, slot.number)
                try:
                    self.check(net)
                except PortConflict as e:
                    self.notes.append(f"address block 127.{slot.number}.0.0/16 is not free: {e}")
                    continue
                tried.remove(slot)
                self.slot, self.net = slot, net
                self._note_links(topo)
                return net
            raise PortConflict(f"{self.notes[-1]} (tried {MAX_BLOCK_TRIES} address blocks)")
        finally:
            for s in tried:
                s.release()

    def _note_links(self, topo: Topology) -> None:
        shaped = shaped_links(topo)
        if shaped:
            asked = "; ".join(f"{n}: {lk.describe()}" for n, lk in shaped.items())
            self.note(
                f"the topology's links are not applied: the loopback backend has no links to "
                f"shape (every pod is an address on one loopback interface) — asked for {asked}; "
                "backend='mininet' (root) applies them"
            )

    def replan(self, topo: Topology) -> ClusterNet:
        """Addresses for a running lab whose topology grew (a waypoint pod added): pods that exist
        keep their addresses; the new ones must be free."""
        new = self._layout(topo, self.slot.number)
        old = {p.name: p for p in self.net.pods}
        # the layout numbers a node's pods in topology order, and a new waypoint may sort before one
        # deployed earlier: a pod that exists keeps its address, a new one takes its node's first free host
        taken = {p.ip for p in self.net.pods}
        pods = []
        for p in new.pods:
            if p.name in old:
                pods.append(replace(p, ip=old[p.name].ip, local_ip=old[p.name].local_ip))
                continue
            a, b, c, _ = p.ip.split(".")
            host = next((h for h in range(2, 255) if f"{a}.{b}.{c}.{h}" not in taken), None)
            if host is None:
                raise LabError(
                    f"node {p.node} has more than 253 pods; the loopback backend's per-node block is full"
                )
            la, lb, lc, _ = p.local_ip.split(".")
            p = replace(p, ip=f"{a}.{b}.{c}.{host}", local_ip=f"{la}.{lb}.{lc}.{host}")
            taken.add(p.ip)
            pods.append(p)
        new = replace(new, pods=tuple(pods))
        self.check(replace(new, pods=tuple(p for p in new.pods if p.name not in old), nodes={}))
        self.net = new
        return new

    def _layout(self, topo: Topology, s: int) -> ClusterNet:
        if len(topo.nodes) > MAX_NODES:
            raise LabError(
                f"the loopback backend holds at most {MAX_NODES} nodes; this topology has {len(topo.nodes)}"
            )
        node_index = {n.name: i + 1 for i, n in enumerate(topo.nodes)}
        next_host = {n: 2 for n in node_index}
        pods = []
        for p in topo.pods:
            i = node_index[p.node]
            host = next_host[p.node]
            if host > 254:
                raise LabError(
                    f"node {p.node} has more than 253 pods; the loopback backend's per-node block is full"
                )
            next_host[p.node] += 1
            pods.append(
                PodAddr(
                    p.name,
                    p.namespace,
                    p.node,
                    f"127.{s}.{i}.{host}",
                    dict(p.labels),
                    p.service_account,
                    p.ports,
                    local_ip=f"127.{s}.{LOCAL_OFFSET + i}.{host}",
                )
            )
        services = tuple(
            ServiceAddr(
                svc.name,
                svc.namespace,
                f"127.{s}.{VIP_OCTET}.{k + 1}",
                svc.port,
                svc.target_port,
                tuple(p.name for p in topo.endpoints(svc)),
            )
            for k, svc in enumerate(topo.services)
        )
        return ClusterNet(
            pods=tuple(pods),
            services=services,
            nodes={n: f"127.{s}.{i}.1" for n, i in node_index.items()},
            kube_proxy="dialer",
        )

    def check(self, net: ClusterNet) -> None:
        """Every address any pod, its sidecar or its ztunnel listeners could need must be free."""
        wanted = [(p, p.ip, port) for p in net.pods for port in (*p.ports, *PROXY_PORTS)]
        wanted += [(p, p.local_ip, port) for p in net.pods for port in p.ports]
        wanted += [(PodAddr(f"ztunnel-{n}", "-", n, ip), ip, ADMIN_PORT) for n, ip in net.nodes.items()]
        for p, ip, port in wanted:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sk:
                # as the pod's server will: TIME_WAIT leftovers are no conflict, listeners are
                sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sk.bind((ip, port))
                except OSError as e:
                    if e.errno == errno.EADDRINUSE:
                        raise PortConflict(
                            f"pod {p.name} needs {ip}:{port}, but that address is in use"
                            f"{_who_listens(ip, port)}. Stop that process, or run `meshlab clean` if "
                            "it is left over from a crashed lab"
                        ) from None
                    raise PortConflict(f"pod {p.name} cannot use {ip}:{port}: {e.strerror}") from None

    def prepare(self, record) -> None:
        self._record = record
        self.zygote = running_zygote(self.zygote, record)

    def spawn(self, where, module: str, log_path: str, net: ClusterNet | None = None):
        return self.spawn_many([(where, module, log_path)], net)[0]

    def spawn_many(self, jobs, net: ClusterNet | None = None) -> list:
        # one network here: ``where`` changes nothing
        if self._record is None:
            raise RuntimeError("LoopbackBackend.prepare() must run before spawn()")
        self.prepare(self._record)  # a fork server that died is replaced, not fatal
        return self.zygote.fork_many([(module, log_path, None) for _, module, log_path in jobs], net)

    def teardown(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None
        if self.slot is not None:
            self.slot.release()
            self.slot = None
        self.net = None


def _who_listens(ip: str, port: int) -> str:
    try:
        for c in psutil.net_connections("tcp"):
            if (
                c.status == psutil.CONN_LISTEN
                and c.laddr
                and c.laddr.port == port
                and c.laddr.ip in (ip, "0.0.0.0", "::")
            ):
                try:
                    name = psutil.Process(c.pid).name() if c.pid else "?"
                except psutil.Error:
                    name = "?"
                return (
                    f" (listening on {c.laddr.ip}:{port}: {name}, pid {c.pid})"
                    if c.pid
                    else f" (something listens on {c.laddr.ip}:{port})"
                )
    except (psutil.Error, OSError):
        pass
    return ""
