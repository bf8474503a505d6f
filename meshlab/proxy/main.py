"""The process that runs one proxy (sidecar, ztunnel or waypoint): the module the zygote forks into."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST

from ..net import interception, control
from ..net.cluster import ADMIN_PORT, ClusterNet
from ..net.http1 import Request, Response, serve, text_response
from ..net.specs import ProxySpec
from ..policy.kinds import from_records


async def setup(msg: dict, ch: control.Channel):
    spec = ProxySpec.from_message(msg)
    role = spec.role
    net = ClusterNet.from_dict(msg["net"])
    if role == "sidecar":
        from .sidecar import Sidecar

        proxy = Sidecar(spec.pod, net, spec.cert, spec.key, spec.root)
    elif role == "ztunnel":
        if interception.by_iptables(net):  # the node's rules send its pods' traffic here
            from .ztunnel_node import NodeZtunnel as Ztunnel
        else:
            from .ztunnel import Ztunnel
        proxy = Ztunnel(spec.node, net, dict(spec.certs), spec.root)
    else:
        from .waypoint import Waypoint

        proxy = Waypoint(spec.pod, net, spec.cert, spec.key, spec.root)
    proxy.set_policies(from_records(list(spec.policies)))
    raise_file_limit()
    interception.become_proxy_user(role, net)
    admin_ip = net.nodes[spec.node] if role == "ztunnel" else net.pod(spec.pod).ip
    try:
        await proxy.start()
        admin = await serve(admin_ip, ADMIN_PORT, _admin(proxy), name=f"{proxy.name} admin")
    except OSError as e:
        raise control.StartupError(
            f"{proxy.name} cannot listen: {e.strerror or e}", "port-conflict" if e.errno == 98 else "bind"
        ) from None

    async def spans(msg):
        try:
            return {"spans": proxy.drain_dicts()}
        finally:
            release_free_memory()

    async def net_update(msg):
        proxy.update(ClusterNet.from_dict(msg["net"]))
        if role == "ztunnel":
            proxy.certs.update({k: tuple(v) for k, v in msg.get("certs", {}).items()})
            await proxy.start()  # listeners for pods enrolled (or left) since
        return {}

    async def policy(msg):
        """The lab's istiod pushes the Istio config in force (all of it, every time)."""
        proxy.set_policies(from_records(msg["objects"]))
        return {"objects": len(msg["objects"])}

    async def on_stop():
        admin.close()
        proxy.close()

    async def stats(msg):
        return proxy.stats()

    async def identities(msg):
        """The SPIFFE ids whose certificate and private key this proxy holds, read from the
        certificates it was given (a ztunnel: its node's ambient pods'). Never the keys."""
        from ..identity import cert_spiffe_id

        paths = [c for c, _ in proxy.certs.values()] if role == "ztunnel" else [spec.cert]
        return {"identities": sorted({cert_spiffe_id(p) for p in paths} - {None})}

    return {
        "spans": spans,
        "net": net_update,
        "stats": stats,
        "policy": policy,
        "identities": identities,
    }, on_stop


def raise_file_limit() -> int:
    """Raise this proxy's soft ``RLIMIT_NOFILE`` to the hard limit, as Istio's pilot-agent does for
    Envoy (``raiseFileLimits`` in istio/istio's pilot-agent): a proxy holds two descriptors per
    proxied connection, so a 1024 soft limit would stop a sidecar near 500 connections."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard


_libc = []


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``), as Envoy's tcmalloc and
    ztunnel's allocator release what they no longer use: every proxy role does it after the lab
    collects its spans (after each load), so the memory the lab measures is memory in use."""
    if not _libc:
        import ctypes
        import ctypes.util

        try:
            _libc.append(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim)
        except (OSError, AttributeError):  # not glibc
            _libc.append(None)
    if _libc[0] is not None:
        _libc[0](0)


def _admin(proxy):
    """The admin port (15020): Prometheus text at /stats/prometheus (and /metrics), readiness."""

    async def handle(req: Request) -> Response:
        if req.path in ("/stats/prometheus", "/metrics"):
            return Response(200, [("content-type", CONTENT_TYPE_LATEST)], proxy.metrics.text())
        if req.path == "/healthz/ready":
            return text_response(200, "ready\n")
        return text_response(404, "admin paths: /stats/prometheus, /metrics, /healthz/ready\n")

    return handle


def main() -> None:
    control.run(setup)


if __name__ == "__main__":
    main()
