"""What a running lab leaves on disk, so that anything it started can be found and stopped later.

``<state root>/labs/<lab id>/lab.json`` holds the controlling process (pid + start time) and
``processes.jsonl`` one line per process the lab started. ``meshlab clean`` reads these and stops
only those processes — checked by pid *and* start time, so a recycled pid is never touched — and
only for labs whose controlling process is gone (or all, with ``force``).

The state root is ``$MESHLAB_STATE_DIR`` or ``<tmp>/meshlab-<uid>``. Address slots (which
127.x.0.0/16 block a loopback lab uses) are ``slots/<n>.lock`` files held with ``flock`` for the
lab's lifetime; the kernel releases the lock when the holder dies.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import psutil

from ..errors import LabError


def _own_dir(p: Path) -> Path:
    """Create ``p`` (mode 0700) or accept it only if it is ours and nobody else can write it:
    `meshlab clean` acts on what it finds there."""
    p.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = p.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise LabError(
            f"{p} belongs to another user or others can write to it; meshlab will not keep "
            "its state there. Remove it, or set MESHLAB_STATE_DIR to a directory of your own"
        )
    return p


def state_root() -> Path:
    root = os.environ.get("MESHLAB_STATE_DIR") or os.path.join(
        tempfile.gettempdir(), f"meshlab-{os.getuid()}"
    )
    return _own_dir(Path(root))


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


class RunState:
    """The on-disk record of one lab."""

    def __init__(self, topology: str, backend: str):
        self.lab_id = f"{topology}-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.dir = state_root() / "labs" / self.lab_id
        self.dir.mkdir(parents=True, mode=0o700)
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        me = os.getpid()
        (self.dir / "lab.json").write_text(
            json.dumps(
                {
                    "lab_id": self.lab_id,
                    "topology": topology,
                    "backend": backend,
                    "owner_pid": me,
                    "owner_create_time": _create_time(me),
                    "started": time.time(),
                }
            )
        )
        self._procs = open(self.dir / "processes.jsonl", "a", buffering=1)

    def record_process(self, pid: int, name: str, role: str) -> None:
        self._procs.write(
            json.dumps({"pid": pid, "create_time": _create_time(pid), "name": name, "role": role}) + "\n"
        )

    def processes(self) -> list[dict]:
        """Every process this lab started: ``{"pid", "create_time", "name", "role"}``."""
        return _read_processes(self.dir)

    def remove(self) -> None:
        try:
            self._procs.close()
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Slot:
    """An exclusive small integer for this lab (its loopback address block), held by flock."""

    def __init__(self, first: int = 100, count: int = 100):
        # Not under $MESHLAB_STATE_DIR: every lab of this user shares one set of address blocks.
        d = _own_dir(_own_dir(Path(tempfile.gettempdir()) / f"meshlab-{os.getuid()}") / "slots")
        for n in range(first, first + count):
            f = open(d / f"{n}.lock", "a")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            self.number, self._f = n, f
            return
        raise LabError(f"all {count} lab address blocks are in use; stop some labs or run `meshlab clean`")

    def release(self) -> None:
        if self._f is not None:
            fcntl.flock(self._f, fcntl.LOCK_UN)
            self._f.close()
            self._f = None


def _read_processes(lab_dir: Path) -> list[dict]:
    out = []
    try:
        lines = (lab_dir / "processes.jsonl").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


@dataclass
class CleanReport:
    labs: list[str]
    killed: list[str]
    skipped: list[str]
    network: list[str] = None  # mininet leftovers removed: bridges, namespaces' processes

    def __str__(self) -> str:
        net = f"removed mininet leftovers: {', '.join(self.network)}" if self.network else None
        if not self.labs:
            head = "nothing to clean: no lab state left behind" if not net else net
            return head + (
                f" ({len(self.skipped)} lab(s) still running: {', '.join(self.skipped)})"
                if self.skipped
                else ""
            )
        lines = [f"cleaned {len(self.labs)} lab(s): {', '.join(self.labs)}"]
        if self.killed:
            lines.append(f"stopped {len(self.killed)} process(es): {', '.join(self.killed)}")
        if net:
            lines.append(net)
        if self.skipped:
            lines.append(f"left {len(self.skipped)} running lab(s) alone: {', '.join(self.skipped)}")
        return "\n".join(lines)


def _alive(pid: int | None, create_time: float | None) -> bool:
    """Is the process we recorded (pid *and* start time) still running? A record without a start
    time never matches: a pid alone may have been recycled by now."""
    if not pid or create_time is None:
        return False
    ct = _create_time(pid)
    return ct is not None and abs(ct - create_time) < 0.01


def clean(
    force: bool = False,
    root: Path | None = None,
    cleaners: Iterable[Callable[[Path | None, bool], list[str]]] = (),
) -> CleanReport:
    """Stop what crashed labs left running and remove their state. With ``force``, also labs whose
    controlling process is still alive. Each of ``cleaners`` (a backend's: ``cleaner(root, force)``,
    returning what it removed) then removes what its backend left outside the process list — a
    mininet lab's bridges; :func:`meshlab.backends.choice.clean` passes every backend's."""
    labs_dir = (root or state_root()) / "labs"
    report = CleanReport([], [], [], [])
    for d in sorted(labs_dir.iterdir()) if labs_dir.exists() else []:
        try:
            meta = json.loads((d / "lab.json").read_text())
        except (OSError, ValueError):
            meta = {}
        if not force and _alive(meta.get("owner_pid"), meta.get("owner_create_time")):
            report.skipped.append(d.name)
            continue
        procs = _read_processes(d)
        live = [p for p in procs if _alive(p.get("pid"), p.get("create_time"))]
        for p in live:
            try:
                os.kill(p["pid"], signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + 3
        for p in live:
            while _alive(p["pid"], p["create_time"]) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _alive(p["pid"], p["create_time"]):
                try:
                    os.kill(p["pid"], signal.SIGKILL)
                except OSError:
                    pass
            report.killed.append(f"{p.get('name')}[{p['pid']}]")
        shutil.rmtree(d, ignore_errors=True)
        report.labs.append(d.name)
    for cleaner in cleaners:
        report.network += cleaner(root, force)
    return report
