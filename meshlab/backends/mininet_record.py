"""What a mininet lab created, recorded as it is made (``<state>/mininet/<slot>.json``: the lab's
owner, its host shells by pid and start time, its bridges), and removed by that record — when the
lab tears down, or by ``meshlab clean`` once the owner is gone. Only names ``ml<slot>...`` that the
record lists are touched."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .state import _alive, state_root


def record_path(slot: int) -> Path:
    d = state_root() / "mininet"
    d.mkdir(mode=0o700, exist_ok=True)
    return d / f"{slot}.json"


def write_record(slot: int, data: dict) -> None:
    p = record_path(slot)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, p)


def update_record(slot: int, key: str, item) -> None:
    p = record_path(slot)
    data = json.loads(p.read_text()) if p.exists() else {"bridges": [], "hosts": []}
    data.setdefault(key, []).append(item)
    write_record(slot, data)


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def clean_slot(slot: int, root: Path | None = None) -> list[str]:
    """Remove what the mininet lab in ``slot`` left: its host shells (checked by pid and start
    time) and its bridges and root-side veths (only names ``ml<slot>...`` it recorded). Returns
    what it removed."""
    p = (root or state_root()) / "mininet" / f"{slot}.json"
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return []
    removed = []
    for pid, ctime, name in data.get("hosts", []):
        if _alive(pid, ctime):
            try:
                os.killpg(pid, 9)
            except OSError:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            removed.append(f"process {name}[{pid}]")
    prefix = f"ml{slot}"
    for br in data.get("bridges", []):
        if not br.startswith(prefix):
            continue
        ports = [q.name for q in Path(f"/sys/class/net/{br}/brif").glob("*")] if _link_exists(br) else []
        for q in ports:
            if q.startswith(br) and _link_exists(q):
                subprocess.run(["ip", "link", "del", q], capture_output=True)
        if _link_exists(br):
            subprocess.run(["ip", "link", "set", br, "down"], capture_output=True)
            subprocess.run(["ip", "link", "del", br], capture_output=True)
            removed.append(f"bridge {br}")
    p.unlink(missing_ok=True)
    return removed


def clean_leftovers(root: Path | None = None, force: bool = False) -> list[str]:
    """For ``meshlab clean``: the network of every mininet lab whose controlling process is gone
    (with ``force``, of running ones too). The slot alone proves nothing: another lab may have
    taken it since."""
    d = (root or state_root()) / "mininet"
    out: list[str] = []
    if not d.exists():
        return out
    for f in sorted(d.glob("*.json")):
        try:
            n = int(f.stem)
            owner = json.loads(f.read_text()).get("owner") or [None, None]
        except (ValueError, OSError):
            continue
        if not force and _alive(*owner):
            continue
        out += clean_slot(n, root)
    return out
