"""The fork server (meshlab/backends/zygote.py, meshlab/backends/forking.py), on its own: what a pod
process forked from it finds, and what it does not inherit."""

import json
from pathlib import Path

import pytest

from meshlab.backends.forking import running_zygote
from meshlab.errors import WorkerError
from meshlab.net.cluster import ClusterNet, PodAddr, ServiceAddr

pytestmark = pytest.mark.integration


@pytest.fixture
def zygote(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent))  # fork_probe
    z = running_zygote(None, lambda *a: None)
    yield z
    z.close()


def _net() -> ClusterNet:
    pods = tuple(PodAddr(f"pod-{i}", "default", "node-1", f"127.9.1.{i + 2}") for i in range(3))
    return ClusterNet(pods=pods, services=(ServiceAddr("svc", "default", "127.9.250.1", 80, 80, ("pod-0",)),))


def test_a_batch_of_pods_inherits_the_net_and_nothing_else(zygote, tmp_path):
    """Three processes forked in one batch: each finds the cluster network handed down (its spec
    names it only by key), can run a subprocess under uvloop (libuv's signal-lock pipe, which
    libuv re-creates at fork, stayed open), and holds no file descriptor of the zygote's or of
    the other pods' — only its stdin, stdout, log, and libuv's own pipe."""
    net = _net()
    forked = zygote.fork_many([("fork_probe", str(tmp_path / f"{i}.log"), None) for i in range(3)], net)
    assert {f.net_key for f in forked} == {net.key}
    for f in forked:
        f.stdin.write((json.dumps({"net": {"inherited": f.net_key}}) + "\n").encode())
        f.stdin.flush()
    for i, f in enumerate(forked):
        line = f.stdout.readline()
        assert line, (tmp_path / f"{i}.log").read_text()
        got = json.loads(line)
        assert got["pods"] == ["pod-0", "pod-1", "pod-2"] and got["subprocess"] == "from a subprocess"
        extra = {fd: target for fd, target in got["fds"].items() if fd not in ("0", "1", "2")}
        pipes = [t for t in extra.values() if t.startswith("pipe:")]
        assert len(pipes) == 2 and pipes[0] == pipes[1], extra  # libuv's: both ends its own
        assert len(extra) <= 3, extra  # + the directory being listed
        f.stdin.close()
        f.wait(5)


def test_a_net_is_handed_to_the_zygote_once(zygote, tmp_path, monkeypatch):
    net = _net()
    sent = []
    share = type(zygote)._share.__get__(zygote)

    def counting(n):
        sent.append(n.key != zygote._net_key)
        return share(n)

    monkeypatch.setattr(zygote, "_share", counting)
    for _ in range(3):
        f = zygote.fork("fork_probe", str(tmp_path / "p.log"), net=net)
        f.kill()
    assert sent == [True, False, False]


def test_a_fork_server_that_is_gone_is_one_clear_error(zygote, tmp_path):
    zygote.proc.kill()
    zygote.proc.wait()
    with pytest.raises(WorkerError, match="fork server"):
        zygote.fork_many([("fork_probe", str(tmp_path / "x.log"), None)] * 2)
