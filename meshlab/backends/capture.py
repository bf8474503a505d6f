"""Run tcpdump in a Mininet host's namespace while the learner's traffic flows."""

from __future__ import annotations

import itertools
import os
import select
import signal
import subprocess
import time
from pathlib import Path

from ..errors import LabError
from ..telemetry.pcap import Capture, read_pcap
from .state import state_root

DEFAULT_SECONDS = 2.0
_numbers = itertools.count(1)  # two captures in one second must not share a file


def run_capture(
    host_pid: int, where: str, intf: str, seconds: float | None, packets: int | None, during, path: str | None
) -> Capture:
    """Capture on ``intf`` in the namespace of ``host_pid``: start tcpdump, wait until it listens,
    run ``during()`` (if given), then stop after ``seconds`` (default 2 s without ``during`` or
    ``packets``) or once ``packets`` arrived, whichever is first."""
    if path is None:
        d = state_root() / "captures"
        d.mkdir(mode=0o700, exist_ok=True)
        path = str(d / f"{where}-{intf}-{time.strftime('%H%M%S')}-{os.getpid()}-{next(_numbers)}.pcap")
    cmd = [
        "mnexec",
        "-a",
        str(host_pid),
        "tcpdump",
        "-i",
        intf,
        "-n",
        "-s",
        "0",
        "-U",
        "--immediate-mode",
        "-Z",
        "root",
        "-w",
        path,
        "tcp",
    ]
    if packets:
        cmd[-1:-1] = ["-c", str(packets)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(proc, where)
        t0 = time.monotonic()
        if during is not None:
            during()
        if seconds is None and packets is None:
            seconds = 0.0 if during is not None else DEFAULT_SECONDS
        deadline = t0 + (seconds if seconds is not None else 30.0)
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            time.sleep(0.2)  # let the last packets of `during` reach the file
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    data = Path(path).read_bytes() if Path(path).exists() else b""
    return Capture(where, intf, path, read_pcap(data))


def _wait_listening(proc: subprocess.Popen, where: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    buf = b""
    while b"listening on" not in buf:
        if proc.poll() is not None:
            raise LabError(
                f"tcpdump on {where} exited: {(buf + proc.stderr.read()).decode(errors='replace').strip()}"
            )
        left = deadline - time.monotonic()
        if left <= 0:
            raise LabError(f"tcpdump on {where} did not start listening in {timeout:g} s")
        r, _, _ = select.select([proc.stderr], [], [], left)
        if r:
            buf += os.read(proc.stderr.fileno(), 4096)
