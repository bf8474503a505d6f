"""What the browser tests share: the skip-or-fail rule, a JupyterLab server on a free port, and
headless Chromium launched as they all launch it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def need(ok: bool, why: str) -> None:
    """Skip with ``why`` — or fail, where ``MESHLAB_REQUIRE_BROWSER=1`` (scripts/test as root, CI)."""
    if ok:
        return
    if os.environ.get("MESHLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser test must run here (MESHLAB_REQUIRE_BROWSER=1) but: {why}")
    pytest.skip(why)


def need_browser() -> None:
    need(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    import importlib.util

    need(
        importlib.util.find_spec("playwright") is not None,
        "the playwright package is not installed (pip install playwright)",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_jupyterlab(root: Path, token: str, log: Path, env: dict | None = None, args: tuple = ()):
    """JupyterLab serving ``root`` on a free port with ``token``; yields its URL. On the way out
    it is shut down as a learner's browser leaves it (kernels and all), or killed."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.open_browser=False",
            *args,
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("JupyterLab did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.3)
    try:
        yield url
    finally:
        try:
            urllib.request.urlopen(
                urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST"), timeout=10
            )
            server.wait(30)
        except Exception:  # noqa: BLE001 - then stop it the hard way
            os.killpg(server.pid, 9)
            server.wait(10)


@contextlib.contextmanager
def running_voila(notebook: Path, log: Path, env: dict | None = None, args: tuple = ()):
    """Voilà serving ``notebook`` as an app on a free port; yields the URL of its page. On the way
    out it is stopped (SIGTERM: Voilà shuts its kernels down), or killed, and so is any kernel it
    left behind (its own child processes, by pid)."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            str(notebook),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            *args,
        ],
        cwd=notebook.parent,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}voila/static/", timeout=2)
        except urllib.error.HTTPError:
            break  # it answers (404 for the folder itself)
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("Voilà did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.3)
            continue
        break
    children = []
    try:
        yield url
    finally:
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(server.pid).children(recursive=True)
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(10)
        for child in children:  # (a kernel is in a session of its own)
            with contextlib.suppress(psutil.Error):
                child.kill()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def notebook_kernel_pids(url: str, token: str, notebook: str) -> set[int]:
    """The kernel process of ``notebook``'s session on the JupyterLab server at ``url``: found by its
    kernel id (the kernel's connection file, ``kernel-<id>.json``, is on its command line), so that
    kernels other tests start on this machine at the same time are never taken for it."""
    with urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=30) as r:
        ids = [
            s["kernel"]["id"]
            for s in json.load(r)
            if s.get("path", "").endswith(notebook) and s.get("kernel")
        ]
    out = set()
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or ()
        if any(f"kernel-{k}" in part for k in ids for part in cmd):
            out.add(p.info["pid"])
    return out
