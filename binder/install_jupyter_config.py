"""Install the lab's Jupyter settings (``binder/jupyter-config/*.json``, see its README) into this
Python's ``<prefix>/etc/jupyter/``, where JupyterLab and Voilà read them: each file merged into any
of the same name already there (its other settings kept). Run by ``scripts/setup`` and
``binder/postBuild`` with the environment's own Python."""

import json
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "jupyter-config"


def merge(old: dict, new: dict) -> dict:
    out = dict(old)
    for k, v in new.items():
        out[k] = merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def install(prefix: Path = Path(sys.prefix)) -> list[Path]:
    etc = prefix / "etc" / "jupyter"
    etc.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(SOURCE.glob("*.json")):
        dst = etc / src.name
        old = json.loads(dst.read_text()) if dst.exists() else {}
        dst.write_text(json.dumps(merge(old, json.loads(src.read_text())), indent=2) + "\n")
        written.append(dst)
    return written


if __name__ == "__main__":
    for path in install():
        print(f"meshlab: Jupyter settings in {path}")
