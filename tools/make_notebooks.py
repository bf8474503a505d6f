"""Write the notebooks in notebooks/ from their sources in tools/nbsrc/ (so they diff and review as
code): one module per notebook, ``nNN_name.py``, with ``NAME``, ``TITLE`` and ``cells()``.

    .venv/bin/python tools/make_notebooks.py
"""

import hashlib
import importlib.util
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

HERE = Path(__file__).resolve().parent
NB = HERE.parent / "notebooks"
sys.path.insert(0, str(HERE / "nbsrc"))

from common import sources  # noqa: E402


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


NOTEBOOKS = {f"{m.NAME}.ipynb": m.cells for m in map(_load, sources())}
#: Notebooks outside the numbered curriculum, in folders of their own (the Voilà dashboard)
APPS = {f"{m.NAME}.ipynb": m.cells for m in map(_load, [HERE / "nbsrc" / "dashboard.py"])}


def stable_ids(cells: list) -> list:
    """Cell ids from the cells' text (nbformat draws random ones), so that regenerating an
    unchanged notebook changes nothing and a diff shows only the cells that changed."""
    seen: dict[str, int] = {}
    for c in cells:
        h = hashlib.sha1(f"{c.cell_type}:{c.source}".encode()).hexdigest()[:8]
        seen[h] = seen.get(h, 0) + 1
        c.id = h if seen[h] == 1 else f"{h}-{seen[h]}"
    return cells


def build(name: str):
    """The notebook ``name`` as this script writes it."""
    return new_notebook(
        cells=stable_ids({**NOTEBOOKS, **APPS}[name]()),
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )


def main():
    NB.mkdir(exist_ok=True)
    for name in [*NOTEBOOKS, *APPS]:
        (NB / name).parent.mkdir(exist_ok=True)
        nbformat.write(build(name), NB / name)
        print("wrote", NB / name)


if __name__ == "__main__":
    main()
