"""One row of ``meshlab bench hops``: a hop measured — p50/p99 at concurrency 1, requests per
second at concurrency 32, each proxy role's CPU per request — and the reference rows, production
proxies in front of the same server: nginx as an L7 hop, a stunnel pair as an L4 mTLS pipe — and
the floor under the ztunnel pair: a pair of plain Python TCP relays (:mod:`.relay`)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import psutil

#: A request that asks for a new connection every time (the client and server close it after the
#: answer), as Bookinfo's productpage opens one per call: what a ztunnel pays for per connection.
NEW_CONNECTION = [("connection", "close")]


NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  upstream app {{ server {upstream}; keepalive 64; }}
  server {{
    listen {listen};
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""

STUNNEL_CONF = """
foreground = yes
pid =
debug = 3
[{name}]
{mode}
accept = {accept}
connect = {connect}
cert = {cert}
key = {key}
CAfile = {ca}
verify = 2
"""


def _cpu_by_role(lab, extra_pids: dict[str, list[int]] | None = None) -> dict[str, float]:
    """CPU seconds so far, summed per proxy role (and per named group of other processes)."""
    from ..compare import proxy_cpu_by_role

    from ..telemetry.cost import process_cpu_s

    out = proxy_cpu_by_role(lab)
    for name, pids in (extra_pids or {}).items():
        for pid in pids:
            try:  # (as the lab's own processes are read: 10 ms ticks would read a short row as 0)
                out[name] = out.get(name, 0.0) + process_cpu_s(psutil.Process(pid))
            except psutil.Error:
                pass
    return out


def measure_row(
    lab, url: str, n1: int, n32: int, headers=None, pids: dict[str, list[int]] | None = None
) -> dict:
    """p50/p99 at concurrency 1, requests per second at 32, and each proxy role's CPU per request
    over the concurrency-32 run (µs; with :data:`NEW_CONNECTION`, a request is a connection)."""
    lab.load(url=url, requests=min(100, n1), concurrency=1, headers=headers, progress=False)  # warm
    one = lab.load(url=url, requests=n1, concurrency=1, headers=headers, progress=False).summary()
    before = _cpu_by_role(lab, pids)
    many = lab.load(url=url, requests=n32, concurrency=32, headers=headers, progress=False)
    after = _cpu_by_role(lab, pids)
    ok = one["requests"]["ok"] == n1 and many.summary()["requests"]["ok"] == n32
    cpu = {role: round((after[role] - before.get(role, 0.0)) / n32 * 1e6, 1) for role in after}
    return {
        "p50_ms": one["latency_ms"]["p50"],
        "p99_ms": one["latency_ms"]["p99"],
        "rps_c32": round(n32 / many.wall_s, 1),
        "all_ok": ok,
        "cpu_us_per_request": cpu,
    }


def reference_rows(lab, n1: int, n32: int, workdir) -> dict:
    """nginx as an L7 hop and a stunnel pair as an L4 mTLS pipe, in front of the same server."""
    import shutil
    import tempfile
    from pathlib import Path
    from ..identity import LabCA

    out = {}
    server = lab.net.pod("server-0")
    s = server.ip.split(".")[1]
    work = Path(tempfile.mkdtemp(dir=workdir))
    if shutil.which("nginx"):
        listen = f"127.{s}.1.200:18080"
        (work / "nginx.conf").write_text(
            NGINX_CONF.format(dir=work, upstream=f"{server.ip}:8080", listen=listen)
        )
        p = subprocess.Popen(
            ["nginx", "-c", str(work / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            out["nginx L7 hop"] = measure_row(lab, f"http://{listen}/get", n1, n32)
        finally:
            p.terminate()
            p.wait(5)
    else:
        out["nginx L7 hop"] = {"skipped": "nginx is not installed (Debian: apt-get install nginx-light)"}
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    if stunnel:
        ca = LabCA.create(work / "ca")
        a, b = ca.issue("default", "stunnel-client"), ca.issue("default", "stunnel-server")
        front, back = f"127.{s}.1.201:18443", f"127.{s}.2.201:18444"
        confs = [("client", "client = yes", front, back, a), ("server", "", back, f"{server.ip}:8080", b)]
        procs = []
        for name, mode, acc, conn, c in confs:
            path = work / f"stunnel-{name}.conf"
            path.write_text(
                STUNNEL_CONF.format(
                    name=name,
                    mode=mode,
                    accept=acc,
                    connect=conn,
                    cert=c.cert_path,
                    key=c.key_path,
                    ca=ca.root_path,
                )
            )
            procs.append(
                subprocess.Popen([stunnel, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        try:
            time.sleep(0.5)
            pids = {"stunnel": [p.pid for p in procs]}
            out["stunnel pair (L4 mTLS)"] = measure_row(lab, f"http://{front}/get", n1, n32, pids=pids)
            out["stunnel pair (L4 mTLS), new connection per request"] = measure_row(
                lab, f"http://{front}/get", n1, n32, NEW_CONNECTION, pids=pids
            )
        finally:
            for p in procs:
                p.terminate()
                p.wait(5)
    else:
        out["stunnel pair (L4 mTLS)"] = {
            "skipped": "stunnel is not installed (Debian: apt-get install stunnel4)"
        }
        out["stunnel pair (L4 mTLS), new connection per request"] = out["stunnel pair (L4 mTLS)"]
    shutil.rmtree(work, ignore_errors=True)
    out.update(_relay_rows(lab, n1, n32, s, server.ip))
    return out


#: The floor rows' name (:mod:`.relay`).
RELAY_PAIR = "python relay pair (L4, plaintext)"


def _relay_rows(lab, n1: int, n32: int, s: str, server_ip: str) -> dict:
    """A pair of plain Python TCP relays (:mod:`.relay`: the ztunnel's own splice, with no TLS,
    HTTP/2, policy or telemetry) in front of the same server: the floor under the ztunnel pair."""
    front, back = f"127.{s}.1.202:18445", f"127.{s}.2.202:18446"
    procs = [
        subprocess.Popen([sys.executable, "-m", "meshlab.bench.relay", acc, conn], stdout=subprocess.DEVNULL)
        for acc, conn in ((front, back), (back, f"{server_ip}:8080"))
    ]
    try:
        _wait_listening([front, back])
        pids = {"python relay": [p.pid for p in procs]}
        return {
            RELAY_PAIR: measure_row(lab, f"http://{front}/get", n1, n32, pids=pids),
            f"{RELAY_PAIR}, new connection per request": measure_row(
                lab, f"http://{front}/get", n1, n32, NEW_CONNECTION, pids=pids
            ),
        }
    finally:
        for p in procs:
            p.terminate()
            p.wait(5)


def _wait_listening(addrs: list[str], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    for a in addrs:
        ip, _, port = a.rpartition(":")
        while True:
            try:
                socket.create_connection((ip, int(port)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
