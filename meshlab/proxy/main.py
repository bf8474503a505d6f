"""The process that runs one proxy (a sidecar today): the module the zygote forks into."""

from __future__ import annotations

from ..net import control
from ..net.cluster import ClusterNet


async def setup(spec: dict, ch: control.Channel):
    role = spec["role"]
    net = ClusterNet.from_dict(spec["net"])
    if role != "sidecar":
        raise control.StartupError(f"unknown proxy role {role!r}; roles: sidecar")
    from .sidecar import Sidecar
    proxy = Sidecar(spec["pod"], net, spec["cert"], spec["key"], spec["root"])
    try:
        await proxy.start()
    except OSError as e:
        raise control.StartupError(f"{proxy.name} cannot listen: {e.strerror or e}",
                                   "port-conflict" if e.errno == 98 else "bind") from None

    async def spans(msg):
        out, proxy.spans = proxy.spans, []
        return {"spans": [s.to_dict() for s in out]}

    async def net_update(msg):
        proxy.update(ClusterNet.from_dict(msg["net"]))
        return {}

    async def on_stop():
        proxy.close()

    return {"spans": spans, "net": net_update}, on_stop


def main() -> None:
    control.run(setup)


if __name__ == "__main__":
    main()
