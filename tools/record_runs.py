"""Record the notebooks' key moments on the mininet backend (root only), for where no lab or no
mininet can run (Binder's loopback, a phone, a static page, the Voilà dashboard): each a recorded
run file (meshlab.replay) in recordings/runs/, labelled with the backend, date and machine.

    sudo .venv/bin/python tools/record_runs.py            # all of them
    sudo .venv/bin/python tools/record_runs.py retry-storm

- three-flows: Bookinfo's page through no mesh, sidecar, ambient, ambient with a waypoint per namespace
- mtls-capture: PERMISSIVE, a plaintext client (sleep-legacy) and a meshed one (sleep-bar) calling
  httpbin.bar, with the packet capture recorded beside it (recordings/03-mtls-capture/)
- strict-refusal: namespace foo STRICT: sleep-legacy's plaintext refused, sleep-bar's mTLS served
- retry-storm: httpbin down (/status/503) under a VirtualService that retries 10 times on 5xx
"""

import sys

from meshlab import Lab, replay
from meshlab.backends import mininet_status
from meshlab.tasks.resilience import RETRY_STORM

BACKEND = "mininet"
# three-flows: the load notebook 01's comparison sends (compare('bookinfo', requests=150,
# concurrency=4, warmup=20)), so the recording and the live table are the same experiment
PAGES, CONCURRENCY, WARMUP = 150, 4, 20

STRICT_FOO = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec:
  mtls: {mode: STRICT}
"""


def last(lab: Lab, label: str) -> dict:
    """The lab's last load, labelled, with every proxy's metrics now."""
    run = lab.recorded_runs()[-1]
    run["label"] = label
    return run


def three_flows() -> tuple[list, dict]:
    runs = []
    for label, mode, waypoints in (
        ("none", "none", None),
        ("sidecar", "sidecar", None),
        ("ambient", "ambient", None),
        ("ambient+waypoint", "ambient", "namespace"),
    ):
        with Lab("bookinfo", mode=mode, waypoints=waypoints, backend=BACKEND, verbose=False, seed=1) as lab:
            lab.load(requests=WARMUP, concurrency=CONCURRENCY, progress=False)  # warm: connections, TLS
            lab.load(requests=PAGES, concurrency=CONCURRENCY, progress=False)
            runs.append(last(lab, label))
    return runs, {
        "what": f"Bookinfo's product page, {PAGES} requests at concurrency {CONCURRENCY} (after {WARMUP} to warm up), "
        "through each data plane "
        "(notebook 01: the three flows)"
    }


def _mtls(strict: bool) -> list:
    runs = []
    with Lab("mtls-migration", backend=BACKEND, verbose=False, seed=1) as lab:
        if strict:
            lab.apply(STRICT_FOO)
        for src in ("sleep-legacy", "sleep-bar"):
            ns = "foo" if strict else "bar"
            lab.load(src, f"http://httpbin.{ns}:8000/ip", requests=5, progress=False)
            runs.append(
                last(lab, f"{src} -> httpbin.{ns}" + (" (foo STRICT)" if strict else " (PERMISSIVE)"))
            )
    return runs


def mtls_capture() -> tuple[list, dict]:
    return _mtls(False), {
        "what": "PERMISSIVE: a client outside the mesh (plaintext) and one in it (mTLS) call "
        "httpbin.bar (notebook 03, section 3)",
        "captures": "03-mtls-capture",
    }


def strict_refusal() -> tuple[list, dict]:
    return _mtls(True), {
        "what": "PeerAuthentication STRICT in namespace foo: plaintext from sleep-legacy is "
        "refused, mTLS from sleep-bar is served (notebook 03, section 4)"
    }


def retry_storm() -> tuple[list, dict]:
    with Lab("httpbin", mode="sidecar", backend=BACKEND, verbose=False, seed=1) as lab:
        lab.load("client", "http://httpbin:8000/status/503", requests=12, concurrency=4, progress=False)
        runs = [last(lab, "no VirtualService: Istio's default retries")]
        lab.apply(RETRY_STORM)
        lab.load("client", "http://httpbin:8000/status/503", requests=12, concurrency=4, progress=False)
        runs.append(last(lab, "attempts: 10, retryOn: 5xx"))
    return runs, {
        "what": "httpbin down (/status/503), 12 requests, before and under a VirtualService that retries "
        "10 times on any 5xx: every request reaches httpbin 11 times (notebook 04, the retry storm)"
    }


RECORDINGS = {
    "three-flows": three_flows,
    "mtls-capture": mtls_capture,
    "strict-refusal": strict_refusal,
    "retry-storm": retry_storm,
}


def main(names: list[str]) -> int:
    ok, why = mininet_status()
    if not ok:
        print(f"mininet is not available here ({why}): nothing recorded", file=sys.stderr)
        return 1
    for name in names or RECORDINGS:
        runs, about = RECORDINGS[name]()
        path = replay.write(replay.RUNS_DIR / f"{name}.json.gz", replay.dumps(runs, backend=BACKEND, **about))
        rec = replay.load(path)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB): {rec.label}")
        for r in rec.runs:
            s = r.result.summary()["requests"]
            print(f"  {r.label}: {s['ok']}/{s['sent']} ok, by status {s['by_status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
