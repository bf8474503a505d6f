"""The process that runs one proxy (sidecar, ztunnel or waypoint): the module the zygote forks into."""

from __future__ import annotations

from ..net import control
from ..net.cluster import ClusterNet


async def setup(spec: dict, ch: control.Channel):
    role = spec["role"]
    net = ClusterNet.from_dict(spec["net"])
    if role == "sidecar":
        from .sidecar import Sidecar
        proxy = Sidecar(spec["pod"], net, spec["cert"], spec["key"], spec["root"])
    elif role == "ztunnel":
        from .ztunnel import Ztunnel
        proxy = Ztunnel(spec["node"], net, {k: tuple(v) for k, v in spec["certs"].items()}, spec["root"])
    elif role == "waypoint":
        from .waypoint import Waypoint
        proxy = Waypoint(spec["pod"], net, spec["cert"], spec["key"], spec["root"])
    else:
        raise control.StartupError(f"unknown proxy role {role!r}; roles: sidecar, ztunnel, waypoint")
    try:
        await proxy.start()
    except OSError as e:
        raise control.StartupError(f"{proxy.name} cannot listen: {e.strerror or e}",
                                   "port-conflict" if e.errno == 98 else "bind") from None

    async def spans(msg):
        return {"spans": [s.to_dict() for s in proxy.drain()]}

    async def net_update(msg):
        proxy.update(ClusterNet.from_dict(msg["net"]))
        if role == "ztunnel":
            await proxy.start()               # listeners for pods enrolled since
        return {}

    async def on_stop():
        proxy.close()

    async def stats(msg):
        return proxy.stats()

    return {"spans": spans, "net": net_update, "stats": stats}, on_stop


def main() -> None:
    control.run(setup)


if __name__ == "__main__":
    main()
