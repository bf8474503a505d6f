"""Every notebook runs top to bottom headless, on the loopback backend, without an error, and
within Binder's memory (2 GB for everything: the kernel, its labs' pods and proxies)."""

import threading
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
BINDER_MEMORY_MB = 2048


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


class PeakMemory(threading.Thread):
    """Samples the summed PSS of this process's descendants (kernel, zygote, pods, proxies)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_mb, self._done = 0.0, threading.Event()

    def run(self):
        me = psutil.Process()
        while not self._done.wait(0.5):
            total = 0
            for p in me.children(recursive=True):
                try:
                    total += p.memory_full_info().pss
                except psutil.Error:
                    pass
            self.peak_mb = max(self.peak_mb, total / 2 ** 20)

    def stop(self):
        self._done.set()
        self.join(5)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    mem = PeakMemory()
    mem.start()
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        mem.stop()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # a matplotlib Figure shows as an image only where the inline backend is set up (`%matplotlib
    # inline`); without it Jupyter prints "<Figure size ...>" and the learner sees no plot
    blind = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if o.output_type in ("execute_result", "display_data")
             and o.data.get("text/plain", "").startswith("<Figure") and "image/png" not in o.data]
    assert not blind, f"figures shown as text, not images (add %matplotlib inline): {blind}"
    print(f"{path.name}: peak memory (PSS, kernel and lab) {mem.peak_mb:.0f} MB")
    assert mem.peak_mb < BINDER_MEMORY_MB
