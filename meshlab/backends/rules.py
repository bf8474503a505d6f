"""The iptables rules the mininet backend installs, as ``iptables-restore`` text (pure functions).

- :func:`sidecar_pod_rules` — what istio-init installs in a sidecar pod's network namespace
  (ISTIO-FACTS §3; the chains and order of istio/istio's ``tools/istio-iptables`` golden files):
  outbound TCP to 15001, inbound TCP to 15006, the proxy's own traffic (UID/GID 1337) and Envoy's
  inbound passthrough source 127.0.0.6 left alone, ports 15008/15090/15021/15020 not captured.
- :func:`node_rules` — a node's ``nat`` table: kube-proxy's service rules (``KUBE-SERVICES`` →
  ``KUBE-SVC-*`` → ``KUBE-SEP-*``: DNAT to an endpoint picked at random, as kube-proxy's iptables
  mode does) and, for the node's ambient pods, the redirection into its ztunnel (outbound → 15001,
  HBONE → 15008, other inbound → 15006; a service endpoint chosen on this node that is an ambient
  pod → 15006 instead of the DNAT). Nothing is installed inside an ambient pod.
- :func:`node_transparent_setup` — what lets the node's ztunnel connect to an app *from the
  client's pod IP* (an ``IP_TRANSPARENT`` socket, as ztunnel's in-pod sockets do): replies to
  such a socket are marked in ``mangle`` and routed to the node itself instead of forwarded.

Each is a whole ``nat`` table: the backend loads it with ``iptables-restore`` into a namespace it
created, so re-applying after a mode change replaces the old rules exactly.
"""

from __future__ import annotations

import base64
import hashlib

from ..net.cluster import ADMIN_PORT, HBONE_PORT, INBOUND_PORT, OUTBOUND_PORT, ClusterNet

PROXY_UID = 1337
INBOUND_PASSTHROUGH_SRC = "127.0.0.6"
EXCLUDED_INBOUND = (HBONE_PORT, 15090, 15021, ADMIN_PORT)  # istio-init -d 15090,15021,15020; 15008 RETURN

_NAT_HEAD = [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
]


def sidecar_pod_rules() -> str:
    """istio-init's ``nat`` table for a sidecar pod (REDIRECT mode, all IPs, all inbound ports)."""
    uid = PROXY_UID
    lines = _NAT_HEAD + [
        ":ISTIO_INBOUND - [0:0]",
        ":ISTIO_IN_REDIRECT - [0:0]",
        ":ISTIO_OUTPUT - [0:0]",
        ":ISTIO_REDIRECT - [0:0]",
        "-A PREROUTING -p tcp -j ISTIO_INBOUND",
        "-A OUTPUT -p tcp -j ISTIO_OUTPUT",
    ]
    lines += [f"-A ISTIO_INBOUND -p tcp -m tcp --dport {p} -j RETURN" for p in EXCLUDED_INBOUND]
    lines += [
        "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT",
        f"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports {INBOUND_PORT}",
        f"-A ISTIO_OUTPUT -s {INBOUND_PASSTHROUGH_SRC}/32 -o lo -j RETURN",
        f"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner {uid} -j ISTIO_IN_REDIRECT",
        f"-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner {uid} -j RETURN",
        f"-A ISTIO_OUTPUT -m owner --uid-owner {uid} -j RETURN",
        f"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner {uid} -j ISTIO_IN_REDIRECT",
        f"-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner {uid} -j RETURN",
        f"-A ISTIO_OUTPUT -m owner --gid-owner {uid} -j RETURN",
        "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN",
        "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
        f"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports {OUTBOUND_PORT}",
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


def empty_nat() -> str:
    return "\n".join(_NAT_HEAD + ["COMMIT"]) + "\n"


#: the mark and routing table that bring replies back to ztunnel's transparent sockets
TRANSPARENT_MARK, TRANSPARENT_TABLE = 0x539, 133


def node_transparent_setup() -> list[str]:
    """Shell commands, run once in a node's namespace: packets of a connection some local
    ``IP_TRANSPARENT`` socket owns (ztunnel's, connected to an app from the client's address)
    get a mark, and marked packets are delivered locally rather than forwarded to the client
    pod — the policy routing a transparent proxy needs (the Linux kernel's ``tproxy.txt``)."""
    return [
        f"iptables -t mangle -A PREROUTING -p tcp -m socket --transparent -j MARK --set-mark {TRANSPARENT_MARK:#x}",
        f"ip rule add fwmark {TRANSPARENT_MARK:#x} lookup {TRANSPARENT_TABLE}",
        f"ip route add local 0.0.0.0/0 dev lo table {TRANSPARENT_TABLE}",
    ]


def _chain(kind: str, key: str) -> str:
    """kube-proxy's chain names: a prefix and 16 characters of base32(sha256(key))."""
    return f"KUBE-{kind}-" + base64.b32encode(hashlib.sha256(key.encode()).digest()).decode()[:16]


def node_rules(net: ClusterNet, node: str) -> str:
    """A node's ``nat`` table: ztunnel's capture of its ambient pods first (so ztunnel sees the
    service address the app dialled, as in-pod capture would), then kube-proxy's services."""
    lines = _NAT_HEAD + [":ZTUNNEL_PREROUTING - [0:0]", ":ZTUNNEL_OUTPUT - [0:0]", ":KUBE-SERVICES - [0:0]"]
    body = [
        "-A PREROUTING -j ZTUNNEL_PREROUTING",
        "-A PREROUTING -j KUBE-SERVICES",
        "-A OUTPUT -j ZTUNNEL_OUTPUT",
        "-A OUTPUT -j KUBE-SERVICES",
    ]
    for p in net.pods:
        if p.node != node or p.mesh != "ambient":
            continue
        body += [
            f"-A ZTUNNEL_PREROUTING -s {p.ip}/32 -p tcp -j REDIRECT --to-ports {OUTBOUND_PORT}",
            f"-A ZTUNNEL_PREROUTING -d {p.ip}/32 -p tcp -m tcp --dport {HBONE_PORT} "
            f"-j REDIRECT --to-ports {HBONE_PORT}",
            f"-A ZTUNNEL_PREROUTING -d {p.ip}/32 -p tcp -j REDIRECT --to-ports {INBOUND_PORT}",
            f"-A ZTUNNEL_OUTPUT -d {p.ip}/32 -p tcp -m tcp --dport {HBONE_PORT} -j REDIRECT --to-ports {HBONE_PORT}",
        ]
    for s in net.services:
        eps = [net.pod(n) for n in s.endpoints]
        svc = _chain("SVC", f"{s.namespace}/{s.name}:tcp")
        lines.append(f":{svc} - [0:0]")
        body.append(
            f'-A KUBE-SERVICES -d {s.vip}/32 -p tcp -m comment --comment "{s.namespace}/{s.name}" '
            f"-m tcp --dport {s.port} -j {svc}"
        )
        for k, ep in enumerate(eps):
            sep = _chain("SEP", f"{s.namespace}/{s.name}:tcp:{ep.ip}")
            lines.append(f":{sep} - [0:0]")
            left = len(eps) - k
            prob = f" -m statistic --mode random --probability {1 / left:.11f}" if left > 1 else ""
            body.append(f'-A {svc} -m comment --comment "{s.namespace}/{s.name} -> {ep.name}"{prob} -j {sep}')
            if ep.node == node and ep.mesh == "ambient":
                # in-pod capture would see this connection after the DNAT; here the node has one
                # NAT pass, so the chosen local ambient endpoint's connection goes to ztunnel now
                body.append(f"-A {sep} -p tcp -m tcp -j REDIRECT --to-ports {INBOUND_PORT}")
            else:
                body.append(f"-A {sep} -p tcp -m tcp -j DNAT --to-destination {ep.ip}:{s.target_port}")
    return "\n".join(lines + body + ["COMMIT"]) + "\n"
