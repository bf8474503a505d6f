"""Record notebook 11's packet captures on the mininet backend (root only), for learners where
mininet cannot run (Binder): one call from the client (node-1) to ratings (node-2) in each mesh
mode — no mesh, sidecar, ambient — captured on node-2's link, with a manifest saying where, when
and on what they were recorded. Notebook 11 shows them, labelled as recorded, when its lab is not
on mininet.

    sudo .venv/bin/python tools/record_wire_capture.py     # writes recordings/11-wire/
"""

import shutil
import sys

from meshlab import Lab
from meshlab.backends import mininet_status
from meshlab.telemetry.pcap import RECORDINGS_DIR, save_recorded

OUT = RECORDINGS_DIR / "11-wire"
URL = "http://ratings:9080/ratings/0"  # client-0 on node-1 -> ratings-v1-0 on node-2
MODES = ("none", "sidecar", "ambient")
REQUESTS = 3


def main() -> int:
    ok, why = mininet_status()
    if not ok:
        print(f"mininet is not available here ({why}): nothing recorded", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    captures = []
    for mode in MODES:
        with Lab("bookinfo", mode=mode, backend="mininet", verbose=False) as lab:
            lab.request("client", URL)  # warm: connections, TLS sessions, HBONE tunnels
            cap = lab.capture("node-2", during=lambda: [lab.request("client", URL) for _ in range(REQUESTS)])
            name = f"{mode}-client-to-ratings.pcap"
            shutil.copyfile(cap.path, OUT / name)
            captures.append(
                {
                    "source": "client",
                    "mode": mode,
                    "url": URL,
                    "requests": REQUESTS,
                    "where": cap.where,
                    "intf": cap.intf,
                    "pcap": name,
                    "readable": cap.readable(),
                    "client_pod_ip": lab.pod_ip("client-0"),
                    "ratings_pod_ip": lab.pod_ip("ratings-v1-0"),
                    "node_ips": dict(lab.net.nodes),
                }
            )
            print(mode, cap.table(limit=8), sep="\n", end="\n\n")
    save_recorded(
        OUT,
        "notebook 11, section 4: one call client -> ratings on node-2's link, in each mesh mode",
        "bookinfo",
        ", ".join(MODES) + " (one capture each)",
        captures,
    )
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
