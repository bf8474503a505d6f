"""The Lab facade's contract: clear errors, and nothing left behind."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from meshlab import Lab
from meshlab.backends import clean
from meshlab.errors import LabError, PortConflict, TopologyError

pytestmark = pytest.mark.integration


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # gone between our looking and our asking
        return False


def _gone(pids, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if _running(p)]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_unknown_mode_names_the_allowed_modes():
    with pytest.raises(LabError, match="allowed: none, sidecar, ambient"):
        Lab("minimal", mode="sidekick")


def test_unknown_backend_names_the_allowed_backends():
    with pytest.raises(LabError, match="allowed: loopback, mininet, auto"):
        Lab("minimal", backend="docker")


def test_bad_topology_raises_before_anything_starts():
    with pytest.raises(TopologyError, match="unknown topology 'bookinfoo'.*did you mean 'bookinfo'"):
        Lab("bookinfoo")


def test_requests_need_a_started_lab():
    lab = Lab("minimal", verbose=False)
    with pytest.raises(LabError, match="not running"):
        lab.request()


def test_bad_arguments_are_errors_and_the_lab_keeps_working(backend):
    with Lab("minimal", backend=backend, verbose=False) as lab:
        with pytest.raises(LabError, match="no pod or workload named 'nobody'"):
            lab.request("nobody")
        with pytest.raises(LabError, match="concurrency must be an integer from 1 to 512"):
            lab.load(requests=5, concurrency=0)
        with pytest.raises(LabError, match="expected an http:// URL"):
            lab.request("client", "ftp://server/")
        with pytest.raises(LabError, match="headers must map strings to strings"):
            lab.request("client", headers={"x-n": 1})
        assert lab.request().status == 200


def test_stop_leaves_no_process_and_no_state(backend):
    """... and on mininet no link of the lab's (its bridges and their veths are named ml<slot>u...
    and ml<slot>b...)."""
    lab = Lab("minimal", backend=backend, verbose=False).start()
    pids = [w.pid for w in lab.workers.values()] + [w.pid for w in lab.proxies.values()]
    state_dir = lab.state.dir
    links = re.compile(rf"ml{lab.backend.slot.number}[ub]")
    assert lab.request().status == 200
    lab.stop()
    assert _gone(pids)
    assert not state_dir.exists()
    assert not [n for n in os.listdir("/sys/class/net") if links.match(n)]
    lab.stop()  # twice is fine


def test_an_exception_inside_the_with_block_still_stops_everything(backend):
    pids = []
    with pytest.raises(RuntimeError, match="learner's bug"):
        with Lab("minimal", backend=backend, verbose=False) as lab:
            pids = [w.pid for w in lab.workers.values()]
            raise RuntimeError("learner's bug")
    assert pids and _gone(pids)


def test_killing_the_controlling_process_stops_every_pod_and_clean_removes_the_rest(tmp_path):
    """SIGKILL the process that started the lab: its pods notice their lifeline is cut and exit;
    `meshlab clean` then removes the state the dead lab left, and nothing else. (Loopback here;
    test_mininet.py does the same on mininet, where bridges, veths and host shells are left too.)"""
    script = textwrap.dedent("""
        import json, sys, time
        from meshlab import Lab
        lab = Lab("bookinfo", verbose=False).start()
        assert lab.request().status == 200
        pids = [w.pid for w in lab.workers.values()] + [lab.backend.zygote.proc.pid]
        print(json.dumps({"pids": pids, "state": str(lab.state.dir)}), flush=True)
        time.sleep(120)
    """)
    env = dict(os.environ, MESHLAB_STATE_DIR=str(tmp_path))
    ctl = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, text=True)
    info = json.loads(ctl.stdout.readline())
    assert all(psutil.pid_exists(p) for p in info["pids"])
    os.kill(ctl.pid, signal.SIGKILL)
    ctl.wait()
    assert _gone(info["pids"]), "pods (or their fork server) outlived their lab"
    assert os.path.isdir(info["state"])  # state is left: the lab had no chance to clean
    report = clean(root=tmp_path)
    assert len(report.labs) == 1 and not os.path.isdir(info["state"])
    assert "nothing to clean" in str(clean(root=tmp_path))


def test_clean_leaves_a_running_lab_alone(tmp_path, monkeypatch, backend):
    monkeypatch.setenv("MESHLAB_STATE_DIR", str(tmp_path))
    with Lab("minimal", backend=backend, verbose=False) as lab:
        report = clean()
        assert report.labs == [] and report.skipped == [lab.state.lab_id]
        assert lab.request().status == 200


def test_a_taken_address_block_is_skipped_and_said_so():
    """Something else listens on the address a pod would get: the lab moves to the next block
    and says why. (Loopback only: mininet's addresses exist only inside the lab's own
    namespaces, where nothing else can hold them.)"""
    probe = Lab("minimal", verbose=False)
    net = probe.backend.plan(probe.topology)
    ip = net.pod("server-0").ip
    probe.backend.teardown()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((ip, 8080))
        squatter.listen()
        with Lab("minimal", verbose=False) as lab:
            assert lab.pod_ip("server") != ip
            assert any(ip + ":8080" in n and "in use" in n for n in lab.backend.notes)
            assert lab.request().status == 200


def test_a_port_taken_on_every_address_is_a_port_conflict_naming_pod_and_culprit():
    """A process listening on 0.0.0.0:8080 takes that port on every loopback address: the lab
    cannot run the server pod anywhere, says so, and leaves nothing running. (Loopback only, as
    above: a listener in the root namespace takes nothing from a mininet pod.)"""
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            squatter.bind(("0.0.0.0", 8080))
        except OSError:
            pytest.skip("port 8080 is already taken on this machine")
        squatter.listen()
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        lab = Lab("minimal", verbose=False)
        with pytest.raises(PortConflict, match=r"pod server-0 needs 127\.\d+\.2\.2:8080.*in use"):
            lab.start()
        assert not lab.running
        after = {p.pid for p in psutil.Process().children(recursive=True)}
        assert after <= before


def test_a_forgotten_lab_stops_when_it_is_garbage_collected(backend):
    """A notebook cell `lab = Lab(...).start()` run twice forgets the first lab: its pods stop
    when it is collected, not at the end of the session."""
    import gc

    lab = Lab("minimal", backend=backend, verbose=False).start()
    pids = [w.pid for w in lab.workers.values()]
    state_dir = lab.state.dir
    del lab
    gc.collect()
    assert _gone(pids) and not state_dir.exists()


def test_a_dead_fork_server_is_replaced_when_a_pod_must_restart(backend):
    """Kill the zygote and a pod: reset() brings the pod back through a new fork server."""
    with Lab("minimal", backend=backend, verbose=False) as lab:
        old = lab.backend.zygote.proc
        old.kill()
        old.wait()
        lab.workers["server-0"].proc.kill()
        lab.workers["server-0"].proc.wait()
        lab.reset()
        assert lab.backend.zygote.proc.pid != old.pid and lab.request().status == 200


def test_a_loads_progress_bar_ends_full_and_names_the_mode(monkeypatch):
    """A bar left short of its total is drawn red in a notebook, as if requests had failed
    (issue 15): the bar of a load that finished ends at its total, and says which mode it measured."""
    import tqdm.auto

    bars = []

    class Recording(tqdm.auto.tqdm):
        def close(self):
            bars.append((self.n, self.total, self.desc))
            super().close()

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    with Lab("minimal", mode="ambient", waypoints="namespace", verbose=False) as lab:
        res = lab.load(requests=60, concurrency=2, progress=True)
        assert res.summary()["requests"]["ok"] == 60
        lab.load(duration=0.5, concurrency=2, progress=True)
    (n, total, desc), (n2, total2, _) = bars[0], bars[-1]  # (close runs again when a bar is freed)
    assert (n, total) == (60, 60) and desc.startswith("ambient+waypoint: client-0 -> ")
    assert n2 == total2 > 0
