"""Record notebook 03's packet capture on the mininet backend (root only), for learners where
mininet cannot run (Binder): the pcap files and a manifest saying where, when and on what they
were recorded. Notebook 03 shows them, labelled as recorded, when its lab is not on mininet.

    sudo .venv/bin/python tools/record_capture.py     # writes recordings/03-mtls-capture/
"""

import shutil
import sys

from meshlab import Lab
from meshlab.backends import mininet_status
from meshlab.telemetry.pcap import RECORDINGS_DIR, save_recorded

OUT = RECORDINGS_DIR / "03-mtls-capture"
SOURCES = ("sleep-legacy", "sleep-bar")  # both call httpbin.bar, on node-2, from node-1


def main() -> int:
    ok, why = mininet_status()
    if not ok:
        print(f"mininet is not available here ({why}): nothing recorded", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    captures = []
    with Lab("mtls-migration", backend="mininet", verbose=False) as lab:
        for src in SOURCES:
            lab.request(src, "http://httpbin.bar:8000/ip")  # warm: connections and TLS sessions
            cap = lab.capture(
                "node-2", during=lambda: [lab.request(src, "http://httpbin.bar:8000/ip") for _ in range(3)]
            )
            name = f"{src}-to-httpbin.bar.pcap"
            shutil.copyfile(cap.path, OUT / name)
            captures.append(
                {
                    "source": src,
                    "url": "http://httpbin.bar:8000/ip",
                    "requests": 3,
                    "where": cap.where,
                    "intf": cap.intf,
                    "pcap": name,
                    "readable": cap.readable(),
                }
            )
            print(cap.table(limit=8), end="\n\n")
    save_recorded(
        OUT,
        "notebook 03, section 3: PERMISSIVE, plaintext and mTLS on node-2's link",
        "mtls-migration",
        "sidecar (foo, bar), none (legacy)",
        captures,
    )
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
