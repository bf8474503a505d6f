"""The mininet backend: the same paths as on loopback, real iptables interception a learner can
look at, packet capture, and nothing left behind — not even after the lab's process is killed."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from meshlab import Lab
from meshlab.errors import LabError

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"
MODES = ["none", "sidecar", "ambient"]


@pytest.fixture(scope="module", params=MODES)
def pair(request, mininet_required):
    """A Bookinfo lab in one mode on each backend."""
    with (
        Lab("bookinfo", mode=request.param, backend="loopback", verbose=False) as lo,
        Lab("bookinfo", mode=request.param, backend="mininet", verbose=False) as mn,
    ):
        yield request.param, lo, mn


def _hops_via(lab, reviews: str) -> list[tuple[str, str]]:
    """(name, role) of each hop of a request whose reviews call went to ``reviews``."""
    for _ in range(40):
        r = lab.request("client", PAGE)
        assert r.status == 200, r
        if reviews in r.path.names():
            return [(h.name, h.role) for h in r.path.hops]
    raise AssertionError(f"no request reached {reviews} in 40 tries")


def test_paths_are_the_same_on_both_backends(pair):
    """In each mesh mode, one request takes the same hops (apps, sidecars, ztunnels) on mininet,
    where iptables captures, as on loopback, where the dialer hands connections over."""
    mode, lo, mn = pair
    assert mn.backend.name == "mininet" and lo.backend.name == "loopback"
    assert _hops_via(mn, "reviews-v2-0") == _hops_via(lo, "reviews-v2-0")
    roles = {role for _, role in _hops_via(mn, "reviews-v3-0")}
    assert roles >= {"none": {"app"}, "sidecar": {"sidecar", "app"}, "ambient": {"ztunnel", "app"}}[mode]


def test_interception_rules_are_there_to_see(pair):
    """A sidecar pod holds istio-init's chains (outbound -> 15001, inbound -> 15006, UID 1337 let
    through, 15008/15020/15021/15090 not captured) and its proxy runs as UID 1337; an ambient pod
    holds no rule — its node redirects it to ztunnel; every node has kube-proxy's service DNAT."""
    mode, _, mn = pair
    pod = mn.exec("reviews-v1", "iptables -t nat -S")
    node = mn.exec("node-1", "iptables -t nat -S")
    assert "-A KUBE-SERVICES -d" in node and "-j DNAT --to-destination" in node
    if mode == "sidecar":
        for rule in (
            "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
            "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
            "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN",
            "-A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN",
        ):
            assert rule in pod, pod
        assert psutil.Process(mn.proxies["reviews-v1-0/istio-proxy"].pid).uids().effective == 1337
    else:
        assert "ISTIO" not in pod
    ip = mn.pod_ip("reviews-v1")
    if mode == "ambient":
        assert f"-A ZTUNNEL_PREROUTING -s {ip}/32 -p tcp -j REDIRECT --to-ports 15001" in node
        assert ":15001" in mn.exec("node-1", "ss -tln")
    else:
        assert f"-s {ip}/32" not in node


def test_exec_shows_binary_output_and_stops_a_command_that_runs_too_long(pair):
    """A command that prints bytes that are not UTF-8 (openssl s_client printing the HTTP/2
    frames after the handshake) gives its text with U+FFFD for them, not a UnicodeDecodeError;
    one that outlives its timeout is stopped and the error says how to bound it."""
    _, _, mn = pair
    assert mn.exec("client", r"printf 'ok \377\376 done'") == "ok \ufffd\ufffd done"
    with pytest.raises(LabError, match="ran longer than 0.5 s.*bound the command"):
        mn.exec("client", "sleep 5", timeout=0.5)
    assert mn.exec("client", "echo still here").strip() == "still here"


def test_capture_shows_http_in_the_clear_without_mesh_and_only_tls_with_ambient(pair):
    """Capturing node-2's link while the client loads the page: mode none shows HTTP requests on
    the wire; ambient shows only TLS (HBONE to port 15008); sidecar only TLS too (mTLS)."""
    mode, _, mn = pair
    cap = mn.capture("node-2", during=lambda: [mn.request("client", PAGE) for _ in range(6)])
    seen = cap.readable()
    assert os.path.getsize(cap.path) > 24 and cap.packets
    if mode == "none":
        assert seen.get("HTTP (cleartext)", 0) > 0, cap.table()
    else:
        assert seen.get("HTTP (cleartext)", 0) == 0, cap.table()
        assert seen.get("TLS application data", 0) > 0, cap.table()
    if mode == "ambient":
        assert any(p.dst.endswith(":15008") for p in cap.packets)
    again = mn.capture("node-2", during=lambda: mn.request("client", PAGE))  # within the same second
    assert again.path != cap.path and os.path.getsize(cap.path) > 24, "a second capture overwrote the first"


def _snapshot() -> dict:
    def run(*cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout

    procs = set()
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "meshlab" in cmd or "mininet:" in cmd:
            procs.add(p.info["pid"])
    links = sorted(line.split(":")[1].strip().split("@")[0] for line in run("ip", "-o", "link").splitlines())
    return {
        "netns": run("ip", "netns"),
        "links": links,
        "procs": procs,
        "iptables": [ln for ln in run("iptables-save").splitlines() if not ln.startswith("#")],
    }


def _has_env(pid: int, state_dir: str) -> bool:
    try:
        return psutil.Process(pid).environ().get("MESHLAB_STATE_DIR") == state_dir
    except psutil.Error:
        return False


_LAB_SCRIPT = """
import sys, time
from meshlab import Lab
lab = Lab("bookinfo", mode="ambient", backend="mininet", verbose=False).start()
assert lab.request("client", "http://productpage:9080/productpage").status == 200
print("up", flush=True)
time.sleep(600)
"""


def test_killed_controller_then_clean_leaves_nothing_behind(tmp_path, mininet_required):
    """The process that started a mininet lab is killed (SIGKILL) mid-run; `meshlab clean` then
    leaves `ip netns`, `ip link`, `iptables-save` and the process table as they were before."""
    before = _snapshot()
    env = {**os.environ, "MESHLAB_STATE_DIR": str(tmp_path / "state")}
    lab = subprocess.Popen([sys.executable, "-c", _LAB_SCRIPT], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert lab.stdout.readline().strip() == "up"
        during = _snapshot()
        assert len(during["links"]) > len(before["links"])  # the lab's bridges and veths
        lab.send_signal(signal.SIGKILL)
        lab.wait(timeout=10)
    finally:
        if lab.poll() is None:
            lab.kill()
    out = subprocess.run([sys.executable, "-m", "meshlab", "clean"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "bridge ml" in out.stdout, out.stdout
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = _snapshot()
        # the dead lab's processes: other labs may start meanwhile on a shared machine, but only
        # this lab's (and its children's) environment names its state directory
        leftover = [p for p in after["procs"] - before["procs"] if _has_env(p, env["MESHLAB_STATE_DIR"])]
        if not leftover:
            break
        time.sleep(0.1)
    leftover = [" ".join(psutil.Process(p).cmdline()) for p in leftover if psutil.pid_exists(p)]
    assert not leftover, leftover
    assert after["links"] == before["links"]
    assert after["netns"] == before["netns"]
    assert after["iptables"] == before["iptables"]
