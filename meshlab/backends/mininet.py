"""The mininet backend: every node and pod is a network namespace (a Mininet host), with real
links, routes and iptables interception. Needs root and Mininet (``apt-get install mininet``;
``pip install 'meshlab[mininet]'`` for its Python API).

Layout (lab slot *s*, the same flock'd slots as the loopback backend, so names never collide):

- **node i** — a Mininet host ``ml<s>n<i>``: ``eth0`` on the underlay (``10.s.0.i/24``, a Linux
  bridge ``ml<s>u`` joining all nodes), ``cni0`` the gateway of its pod subnet (``10.s.i.1/24``),
  IP forwarding on, a route to every other node's pod subnet, and its ``nat`` table
  (:mod:`meshlab.backends.rules`): kube-proxy's service DNAT and, for its ambient pods, the
  redirection into its ztunnel.
- **pod** — a Mininet host ``ml<s>p<k>`` whose ``eth0`` sits on its node's bridge ``ml<s>b<i>``
  (like a CNI bridge), with a /32 address ``10.s.i.h`` and the node as its only route (as
  Calico-style CNIs do): every packet of a pod passes its node, so the node's DNAT sees both
  directions even between pods of one node. Sidecar pods get istio-init's chains.
- **service VIPs** — ``10.s.250.k``: no interface has them; the node's DNAT picks an endpoint.

Bridges live in the root namespace (Mininet's ``LinuxBridge``, no OpenFlow controller: there is
no Open vSwitch kernel module here). Processes start inside a host's namespace: forked by the
zygote, which joins the Mininet host's namespace (``/proc/<host pid>/ns/net``) as ``mnexec -a``
would. Everything created is named ``ml<s>...`` and listed in ``<state>/mininet/<s>.json`` until it
is gone, so :func:`.mininet_record.clean_leftovers` removes a crashed lab's links, and only those
(:mod:`.mininet_record`). Link shaping (``links:``) is :mod:`.shaping`'s.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from dataclasses import replace

from ..errors import LabError
from ..net.cluster import ClusterNet, PodAddr, ServiceAddr
from ..topology.model import Links, Topology
from . import rules
from .base import Backend, shaped_links
from .forking import Zygote, running_zygote
from .mininet_record import clean_slot, update_record, write_record
from .shaping import uplink_params
from .state import Slot, _create_time

VIP_OCTET = 250
MAX_NODES = 200


class MininetBackend(Backend):
    name = "mininet"

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.links: dict[str, Links] = {}  # node -> how its uplink is shaped (the topology's)
        self._uplinks: dict[str, dict] = {}  # node -> Mininet options for its eth0
        self.slot: Slot | None = None
        self.net: ClusterNet | None = None
        self.mn = None
        self.hosts: dict[str, object] = {}  # pod or node name -> Mininet host
        self.zygote: Zygote | None = None
        self._record = None
        self._pod_index: dict[str, int] = {}
        self._applied: dict[str, str] = {}  # host name -> nat table loaded there

    # -- addresses -----------------------------------------------------------------------------
    def plan(self, topo: Topology) -> ClusterNet:
        if self.net is not None:
            return self.net
        if len(topo.nodes) > MAX_NODES:
            raise LabError(
                f"the mininet backend holds at most {MAX_NODES} nodes; this topology has {len(topo.nodes)}"
            )
        self.slot = Slot()
        self.net = self._layout(topo)
        self.links = shaped_links(topo)
        self._uplinks = uplink_params(self.links, self.note)  # before start() tells the learner the notes
        return self.net

    def _layout(self, topo: Topology) -> ClusterNet:
        s = self.slot.number
        node_index = {n.name: i + 1 for i, n in enumerate(topo.nodes)}
        next_host = {n: 2 for n in node_index}
        old = {p.name: p.ip for p in self.net.pods} if self.net else {}
        for ip in old.values():  # existing pods keep their addresses
            _, _, i, h = ip.split(".")
            for n, idx in node_index.items():
                if idx == int(i):
                    next_host[n] = max(next_host[n], int(h) + 1)
        pods = []
        for p in topo.pods:
            if p.name not in self._pod_index:
                self._pod_index[p.name] = len(self._pod_index) + 1
            i = node_index[p.node]
            if p.name in old:
                ip = old[p.name]
            else:
                if next_host[p.node] > 254:
                    raise LabError(f"node {p.node} has more than 253 pods; its /24 pod subnet is full")
                ip = f"10.{s}.{i}.{next_host[p.node]}"
                next_host[p.node] += 1
            pods.append(
                PodAddr(
                    p.name, p.namespace, p.node, ip, dict(p.labels), p.service_account, p.ports, local_ip=ip
                )
            )  # the app never moves: iptables does the capture
        services = tuple(
            ServiceAddr(
                svc.name,
                svc.namespace,
                f"10.{s}.{VIP_OCTET}.{k + 1}",
                svc.port,
                svc.target_port,
                tuple(p.name for p in topo.endpoints(svc)),
            )
            for k, svc in enumerate(topo.services)
        )
        return ClusterNet(
            pods=tuple(pods),
            services=services,
            nodes={n: f"10.{s}.{i}.1" for n, i in node_index.items()},
            kube_proxy="kernel",
            interception="iptables",
        )

    def replan(self, topo: Topology) -> ClusterNet:
        """A running lab grew (a waypoint pod): new pods get a namespace on their node's bridge."""
        new = self._layout(topo)
        added = [p for p in new.pods if self.net.pod_or_none(p.name) is None]
        self.net = replace(
            new, pods=tuple(replace(p, mesh=(self.net.pod_or_none(p.name) or p).mesh) for p in new.pods)
        )
        if self.mn is not None:
            for p in added:
                self._add_pod(p)
        return self.net

    # -- the network ---------------------------------------------------------------------------
    def _names(self) -> dict:
        s = self.slot.number
        return {
            "underlay": f"ml{s}u",
            "node": lambda i: f"ml{s}n{i}",
            "bridge": lambda i: f"ml{s}b{i}",
            "pod": lambda k: f"ml{s}p{k}",
        }

    def prepare(self, record) -> None:
        self._record = record
        if self.mn is None:
            self._build()
        self.zygote = running_zygote(self.zygote, record)

    def _build(self) -> None:
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.link import Link
        from mininet.nodelib import LinuxBridge

        setLogLevel("error")
        uplinks = self._uplinks
        names = self._names()
        me = os.getpid()
        write_record(self.slot.number, {"owner": [me, _create_time(me)], "bridges": [], "hosts": []})
        self.mn = Mininet(
            topo=None, build=False, controller=None, switch=LinuxBridge, link=Link, waitConnected=False
        )
        transparent = "; ".join(rules.node_transparent_setup())
        try:
            s = self.slot.number
            underlay = self._switch(names["underlay"])
            node_index = {n: int(ip.split(".")[2]) for n, ip in self.net.nodes.items()}
            for node, i in node_index.items():
                h = self._host(node, names["node"](i))
                br = self._switch(names["bridge"](i))
                self.mn.addLink(
                    h, underlay, intfName1="eth0", intfName2=f"{underlay.name}n{i}", **uplinks.get(node, {})
                )
                self.mn.addLink(h, br, intfName1="cni0", intfName2=f"{br.name}n")
            for p in self.net.pods:
                self._add_pod(p, started=False)
            self.mn.build()
            self.mn.start()
            for node, i in node_index.items():
                routes = "; ".join(
                    f"ip route add 10.{s}.{j}.0/24 via 10.{s}.0.{j} dev eth0"
                    for j in node_index.values()
                    if j != i
                )
                self._sh(
                    self.hosts[node],
                    f"""
                    ip addr flush dev eth0; ip addr add 10.{s}.0.{i}/24 dev eth0; ip link set eth0 up
                    ip addr flush dev cni0; ip addr add 10.{s}.{i}.1/24 dev cni0; ip link set cni0 up
                    {routes}
                    sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
                        net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.cni0.send_redirects=0 \
                        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.cni0.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
                    {transparent}
                    """,
                )
            for p in self.net.pods:
                self._config_pod(p)
            self.sync(self.net)
        except BaseException:
            self.teardown()
            raise

    def _host(self, name: str, host_name: str):
        h = self.mn.addHost(host_name, ip=None)
        self.hosts[name] = h
        self._record(h.pid, f"mininet:{host_name}", "mininet-host")
        update_record(self.slot.number, "hosts", [h.pid, _create_time(h.pid), host_name])
        return h

    def _switch(self, name: str):
        sw = self.mn.addSwitch(name, dpid=f"{abs(hash(name)) % (1 << 48):x}")
        update_record(self.slot.number, "bridges", name)
        return sw

    def _add_pod(self, p: PodAddr, started: bool = True) -> None:
        names = self._names()
        i = int(p.ip.split(".")[2])
        h = self._host(p.name, names["pod"](self._pod_index[p.name]))
        br = self.mn.get(names["bridge"](i))
        link = self.mn.addLink(h, br, intfName1="eth0", intfName2=f"{br.name}p{self._pod_index[p.name]}")
        if started:  # Mininet configures hosts and bridges in build()/start()
            h.configDefault(ip=None, mac=None)
            br.cmd("brctl addif", br.name, link.intf2.name)
            br.cmd("ip link set", link.intf2.name, "up")
            self._config_pod(p)
            self._apply_pod_rules(p)

    def _config_pod(self, p: PodAddr) -> None:
        gw = self.net.nodes[p.node]
        self._sh(
            self.hosts[p.name],
            f"""
            ip addr flush dev eth0; ip addr add {p.ip}/32 dev eth0; ip link set eth0 up; ip link set lo up
            ip route add {gw} dev eth0 scope link; ip route add default via {gw} dev eth0
            sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.eth0.accept_redirects=0
            """,
        )

    def _sh(self, host, script: str) -> str:
        """Run a shell script in a host's namespace; raise if any line failed."""
        lines = [ln.strip() for ln in script.strip().splitlines()]
        script = " ".join(ln[:-1] if ln.endswith("\\") else ln + ";" for ln in lines if ln)
        out = host.cmd(f"( set -e; {script} ) 2>&1; echo rc=$?")
        body, _, rc = out.rstrip().rpartition("rc=")
        if rc.strip() != "0":
            raise LabError(f"setting up {host.name} failed: {body.strip()[-400:]}")
        return body

    # -- interception --------------------------------------------------------------------------
    def sync(self, net: ClusterNet) -> None:
        """Make every namespace's iptables match ``net``: istio-init's chains in sidecar pods,
        none in other pods, kube-proxy and ztunnel capture on every node."""
        self.net = (
            replace(
                self.net,
                pods=tuple(
                    replace(p, mesh=net.pod(p.name).mesh) if net.pod_or_none(p.name) else p
                    for p in self.net.pods
                ),
                services=net.services,
            )
            if self.net
            else net
        )
        if self.mn is None:
            return  # applied once the network exists
        for node in self.net.nodes:
            self._load(node, rules.node_rules(self.net, node))
        for p in self.net.pods:
            self._apply_pod_rules(p)

    def _apply_pod_rules(self, p: PodAddr) -> None:
        self._load(p.name, rules.sidecar_pod_rules() if p.mesh == "sidecar" else rules.empty_nat())

    def _load(self, name: str, table: str) -> None:
        if self._applied.get(name) == table:
            return
        h = self.hosts[name]
        r = subprocess.run(
            ["mnexec", "-a", str(h.pid), "iptables-restore"], input=table, text=True, capture_output=True
        )
        if r.returncode != 0:
            raise LabError(f"iptables-restore in {name} failed: {r.stderr.strip()[-400:]}")
        self._applied[name] = table

    # -- processes -----------------------------------------------------------------------------
    def spawn(self, where, module: str, log_path: str, net: ClusterNet | None = None):
        return self.spawn_many([(where, module, log_path)], net)[0]

    def spawn_many(self, jobs, net: ClusterNet | None = None) -> list:
        if self._record is None:
            raise RuntimeError("MininetBackend.prepare() must run before spawn()")
        self.prepare(self._record)
        return self.zygote.fork_many(
            [(module, log_path, self._netns(where)) for where, module, log_path in jobs], net
        )

    def _netns(self, where) -> str:
        name = where.name if isinstance(where, PodAddr) else where
        return f"/proc/{self.host(name).pid}/ns/net"

    def host(self, name: str):
        try:
            return self.hosts[name]
        except KeyError:
            raise LabError(
                f"no pod or node named {name!r}; pods: {', '.join(p.name for p in self.net.pods)}; "
                f"nodes: {', '.join(self.net.nodes)}"
            ) from None

    def exec(self, where: str, cmd: str, timeout: float = 30.0) -> str:
        """Run a shell command in the namespace of a pod or node; its output (stdout and stderr),
        with bytes that are not UTF-8 (a TLS record, an HTTP/2 frame) shown as U+FFFD."""
        h = self.host(where)
        try:
            r = subprocess.run(
                ["mnexec", "-a", str(h.pid), "sh", "-c", cmd],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise LabError(
                f"{cmd!r} in {where} ran longer than {timeout:g} s and was stopped; "
                f"pass a larger timeout= or bound the command (curl -m, tcpdump -c)"
            ) from None
        return r.stdout + r.stderr

    def connect(self, where: str, address: tuple[str, int], timeout: float = 10.0) -> socket.socket:
        """A TCP connection opened inside the namespace of a pod or node: a short-lived thread
        joins the namespace (``setns`` moves only the calling thread), creates the socket there and
        connects; the socket stays in that namespace, usable from any thread."""
        from .zygote import setns

        netns = f"/proc/{self.host(where).pid}/ns/net"
        out: dict = {}

        def inside() -> None:
            try:
                setns(netns)
                out["sock"] = socket.create_connection(address, timeout=timeout)
            except OSError as e:
                out["error"] = e

        t = threading.Thread(target=inside, name=f"meshlab-connect-{where}", daemon=True)
        t.start()
        t.join()
        if "error" in out:
            raise out["error"]
        return out["sock"]

    def capture(
        self,
        where: str,
        seconds: float | None = None,
        packets: int | None = None,
        during=None,
        intf: str = "eth0",
        path: str | None = None,
    ):
        from .capture import run_capture

        return run_capture(self.host(where).pid, where, intf, seconds, packets, during, path)

    # -- teardown ------------------------------------------------------------------------------
    def teardown(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None
        if self.mn is not None:
            mn, self.mn = self.mn, None
            try:
                mn.stop()
            except Exception:  # noqa: BLE001 - leftovers are removed below
                pass
        if self.slot is not None:
            clean_slot(self.slot.number)
            self.slot.release()
            self.slot = None
        self.hosts, self._applied, self.net = {}, {}, None
