"""Lab(seed=N) (issue 16's per-learner variants): the same seed gives the same outcomes for the same
requests sent one at a time — which pod served, httpbin's random status, the sidecars' retries —
and another seed gives others."""

import pytest

from meshlab import Lab
from meshlab.errors import LabError

pytestmark = pytest.mark.integration


def outcomes(seed, mode):
    with Lab("httpbin", mode=mode, seed=seed, verbose=False) as lab:
        res = lab.load(
            url="http://httpbin:8000/status/200,503",
            requests=40,
            concurrency=1,
            progress=False,
            headers={"connection": "close"},
        )  # a new connection each: kube-proxy picks anew
        served = []
        for o in res.outcomes:
            p = res.paths.get(o.get("trace_id"))
            served.append(
                next((h.name for h in p.hops if h.role == "app" and h.name.startswith("httpbin-")), None)
                if p
                else None
            )
        return [o["status"] for o in res.outcomes], served


@pytest.mark.parametrize("mode", ["none", "sidecar"])
def test_the_same_seed_gives_the_same_outcomes_and_another_seed_others(mode):
    first, again, other = outcomes(7, mode), outcomes(7, mode), outcomes(8, mode)
    assert first == again
    assert first != other
    statuses, served = first
    assert set(statuses) <= {200, 503} and len(set(served)) == 2  # random, both pods: not a constant


def test_a_seed_must_be_an_integer():
    with pytest.raises(LabError, match="seed must be an integer"):
        Lab("minimal", seed="learner-1")


def test_meshlab_run_seed_repeats_a_run(capsys):
    """`meshlab run --seed N`: the same statuses again; the seed is the lab's (the CLI only passes it)."""
    import json

    from meshlab.cli import main

    def statuses(seed):
        args = [
            "run",
            "httpbin",
            "--url",
            "http://httpbin:8000/status/200,503",
            "-n",
            "30",
            "-H",
            "connection: close",
            "--json",
            "--seed",
            str(seed),
        ]
        assert main(args) == 0
        return json.loads(capsys.readouterr().out)["requests"]["by_status"]

    first = statuses(3)
    assert first == statuses(3) and set(first) == {"200", "503"}
    with pytest.raises(SystemExit):
        main(["run", "httpbin", "--seed", "learner-1"])
    assert "invalid int value: 'learner-1'" in capsys.readouterr().err
