"""Link shaping on the mininet backend: a topology's ``links:`` (bandwidth, delay, loss per node
uplink) as Mininet ``TCIntf`` options — HTB for bandwidth, netem for delay and loss where the kernel
has netem (asked of the kernel itself)."""

from __future__ import annotations

import functools
import subprocess
from typing import Callable

from ..topology.model import Links


@functools.cache
def netem_available() -> bool:
    """Does this kernel have the netem qdisc (link delay and loss)? Asked of the kernel itself: add
    one in a throwaway network namespace (a missing module is loaded on demand, where it exists)."""
    r = subprocess.run(
        ["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
        capture_output=True,
    )
    return r.returncode == 0


def uplink_params(links: dict[str, Links], note: Callable[[str], None]) -> dict[str, dict]:
    """Mininet ``TCIntf`` options for each shaped node's ``eth0`` (its side of the underlay, so
    what the node sends), from ``links`` (node -> how its uplink is shaped): ``bw`` (HTB),
    ``delay`` and ``loss`` (netem). Without netem in the kernel, delay and loss are left out, and
    ``note`` says so once."""
    from mininet.link import TCIntf

    if not links:
        return {}
    wants_netem = {n: lk for n, lk in links.items() if lk.delay_ms is not None or lk.loss_pct is not None}
    netem = not wants_netem or netem_available()
    if not netem:
        asked = "; ".join(
            f"{n}: {Links(delay_ms=lk.delay_ms, loss_pct=lk.loss_pct).describe()}"
            for n, lk in wants_netem.items()
        )
        bw = any(lk.bandwidth_mbit is not None for lk in links.values())
        note(
            f"this kernel has no netem (tc qdisc netem is unknown here): links run without "
            f"the delay and loss asked for ({asked})" + ("; bandwidth limits still apply" if bw else "")
        )
    out = {}
    for node, lk in links.items():
        params = {}
        if lk.bandwidth_mbit is not None:
            params["bw"] = lk.bandwidth_mbit
        if netem and lk.delay_ms is not None:
            params["delay"] = f"{lk.delay_ms:g}ms"
        if netem and lk.loss_pct is not None:
            params["loss"] = lk.loss_pct
        if params:
            out[node] = {"cls1": TCIntf, "params1": params}
    return out
