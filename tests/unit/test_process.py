"""The lab's side of its processes (meshlab/backends/process.py): enough file descriptors for a
large lab."""

import resource

import pytest

from meshlab.backends import process
from meshlab.errors import LabError


@pytest.fixture
def limits(monkeypatch):
    state = {"limits": (1024, 4096)}
    monkeypatch.setattr(resource, "getrlimit", lambda which: state["limits"])
    monkeypatch.setattr(resource, "setrlimit", lambda which, lim: state.update(limits=lim))
    return state


def test_a_large_lab_raises_the_soft_limit_to_what_it_needs(limits):
    process.ensure_fds(100)                               # 456 fit under 1024: nothing changes
    assert limits["limits"] == (1024, 4096)
    process.ensure_fds(402)                               # a 200-pod sidecar lab
    assert limits["limits"] == (2 * 402 + process.FD_HEADROOM, 4096)


def test_beyond_the_hard_limit_it_says_what_to_do(limits):
    with pytest.raises(LabError, match=r"3000 processes need about 6256 open files .* limit here is 4096 \(ulimit -Hn\)"):
        process.ensure_fds(3000)
