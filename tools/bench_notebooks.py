"""How long each notebook's Run All takes on the loopback backend, and its peak memory (PSS of the
kernel and every process it started): a benchmark, printed, never asserted (the machine is shared).

    .venv/bin/python tools/bench_notebooks.py [NAME-FRAGMENT ...] [--json]

The baseline in the same run is an empty notebook (a kernel that starts and stops), so the figures
can be read against what a kernel alone costs on this machine.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from meshlab.telemetry.cost import PeakMemory

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def run(nb) -> dict:
    mem = PeakMemory(every=0.25)
    mem.start()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        try:
            NotebookClient(
                nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": d}}
            ).execute()
            error = next(
                (
                    f"{o.ename}: {o.evalue}"
                    for c in nb.cells
                    for o in c.get("outputs", [])
                    if o.output_type == "error"
                ),
                None,
            )
        except Exception as e:  # a cell error or a timeout: reported, the other notebooks still run
            error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    seconds = time.monotonic() - t0
    mem.stop()
    return {"seconds": round(seconds, 1), "peak_pss_mb": round(mem.peak_mb), "error": error}


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    wanted = [a for a in argv if not a.startswith("--")]
    paths = [p for p in NOTEBOOKS if not wanted or any(w in p.stem for w in wanted)]
    out = {"baseline: an empty notebook": run(nbformat.v4.new_notebook())}
    for i, p in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {p.name} ...", file=sys.stderr, flush=True)
        out[p.stem] = run(nbformat.read(p, as_version=4))
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    base = out["baseline: an empty notebook"]["seconds"] or 1.0
    print(f"{'notebook':<32}{'Run All (s)':>12}{'x baseline':>12}{'peak PSS (MB)':>15}  error")
    for name, r in out.items():
        print(
            f"{name:<32}{r['seconds']:>12.1f}{r['seconds'] / base:>12.1f}{r['peak_pss_mb']:>15}  {r['error'] or '-'}"
        )
    return 1 if any(r["error"] for r in out.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
