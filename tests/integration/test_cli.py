"""The meshlab command, as a learner types it. On loopback: the commands only parse, call the
lab and print; test_sidecar.py runs `meshlab run --backend` on both backends."""

import json
import subprocess
import sys

import pytest

from meshlab.cli import main

pytestmark = pytest.mark.integration


def test_run_json_reports_the_contracted_fields(capsys):
    """`meshlab run bookinfo --requests 40 --json` prints one JSON object with 40 sent, 40 ok,
    real latencies and the paths taken."""
    assert main(["run", "bookinfo", "--requests", "40", "--concurrency", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["topology"], out["mode"], out["backend"]) == ("bookinfo", "none", "loopback")
    assert out["requests"]["sent"] == 40 and out["requests"]["ok"] == 40 and out["requests"]["failed"] == 0
    assert out["requests"]["by_status"] == {"200": 40}
    assert 0 < out["latency_ms"]["p50"] <= out["latency_ms"]["p90"] <= out["latency_ms"]["p99"]
    assert sum(p["count"] for p in out["paths"]) == 40
    first = out["paths"][0]["hops"]
    assert first[0]["name"] == "client-0" and first[1]["name"] == "productpage-v1-0"
    assert all({"name", "role", "ms"} <= set(h) for p in out["paths"] for h in p["hops"])


def test_trace_prints_the_path_hop_by_hop(capsys):
    assert (
        main(["trace", "bookinfo", "--from", "client", "--url", "http://productpage:9080/productpage"]) == 0
    )
    out = capsys.readouterr().out
    for name in ("client-0", "productpage-v1-0", "details-v1-0", "reviews-v"):
        assert name in out
    assert " ms  200" in out


def test_topologies_lists_the_shipped_files(capsys):
    assert main(["topologies"]) == 0
    out = capsys.readouterr().out
    assert "bookinfo" in out and "httpbin" in out and "minimal" in out


def test_a_bad_topology_is_one_clear_error_and_exit_code_2(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nnodes: [{name: node-1}]\nnamespaces: [{name: default}]\nservices: []\n"
        "workloads:\n  - {name: c, node: node-9, app: {kind: client}}\n"
    )
    assert main(["run", str(bad), "-n", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:6: workloads[0].node: unknown node 'node-9'" in err and "nodes: node-1" in err


def test_a_topology_nested_too_deep_is_one_clear_error_not_a_traceback(capsys, tmp_path):
    """Issue 13, defect 6: `meshlab run deep.yaml` printed ~3,000 lines of RecursionError."""
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: deep\nnodes: " + "[" * 5000 + "]" * 5000 + "\n")
    policy = tmp_path / "deep-policy.yaml"
    policy.write_text(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\n"
        "spec: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"
    )
    assert main(["run", str(deep), "-n", "1"]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip() == f"meshlab: error: {deep}:2: not valid YAML: nested more than 64 levels deep; "
        "a topology or a policy needs far fewer"
    )
    assert main(["run", "minimal", "-n", "1", "--apply", str(policy)]) == 2
    err = capsys.readouterr().err
    assert (
        len(err.strip().splitlines()) == 1 and f"{policy}: document 1, line 4: not valid YAML: nested" in err
    )


def test_run_reports_pages_that_say_reviews_unavailable_apart_from_the_failures(capsys, tmp_path):
    """Issue 13: with every call to reviews aborted, each Bookinfo page is a 200 that says reviews
    are unavailable. `meshlab run` still counts them ok (HTTP), and says they are partial."""
    from meshlab.apps.bookinfo import REVIEWS_ERROR

    abort = tmp_path / "abort-reviews.yaml"
    abort.write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\n"
        "spec:\n  hosts: [reviews]\n  http:\n  - fault: {abort: {percentage: {value: 100}, httpStatus: 503}}\n"
        "    route: [{destination: {host: reviews}}]\n"
    )
    assert main(["run", "bookinfo", "--mode", "sidecar", "--apply", str(abort), "-n", "4", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["requests"]
    assert (r["ok"], r["failed"], r["partial"], r["partial_failures"]) == (4, 0, 4, {REVIEWS_ERROR: 4})
    assert main(["run", "bookinfo", "--mode", "sidecar", "--apply", str(abort), "-n", "4"]) == 0
    out = capsys.readouterr().out
    assert "ok 4  failed 0" in out and f'partial   4 of the ok answers say "{REVIEWS_ERROR}" (4)' in out


def test_bad_numbers_are_refused_by_the_parser():
    r = subprocess.run(
        [sys.executable, "-m", "meshlab", "run", "bookinfo", "-n", "0"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "expected 1 or more, got 0" in r.stderr


@pytest.mark.parametrize("cmd", [[], ["run"], ["trace"], ["clean"], ["bench"], ["topologies"], ["generate"]])
def test_every_command_has_help(cmd):
    r = subprocess.run([sys.executable, "-m", "meshlab", *cmd, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "usage: meshlab" in r.stdout


def test_a_generated_topology_runs_from_its_file_and_from_its_spec(capsys, tmp_path):
    """`meshlab generate ... -o FILE` writes a topology that `meshlab run FILE` runs; the same
    topology runs directly as `gen:services=5,replicas=2,nodes=3`. Its entry is a Bookinfo page
    through the first shard."""
    path = tmp_path / "gen.yaml"
    assert main(["generate", "--services", "5", "--replicas", "2", "--nodes", "3", "-o", str(path)]) == 0
    assert "11 pods (5 services x 2 replicas + a client) on 3 nodes, 2 namespaces" in capsys.readouterr().err
    for topology, mode in ((str(path), "sidecar"), ("gen:services=5,replicas=2,nodes=3", "ambient")):
        assert main(["run", topology, "--mode", mode, "-n", "20", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["topology"] == "gen-s5-r2-n3" and out["mode"] == mode
        assert out["requests"]["ok"] == 20
        names = [h["name"] for p in out["paths"] for h in p["hops"]]
        assert "client-0" in names and any(n.startswith("productpage-v1-b1-") for n in names)
        assert any(n.startswith("ratings-v1-b1-") for n in names)


def test_generate_refuses_a_bad_count_naming_it():
    r = subprocess.run(
        [sys.executable, "-m", "meshlab", "generate", "--replicas", "51"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "argument --replicas: 51 is out of range; replicas takes 1 to 50" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "meshlab", "run", "gen:services=3,nodez=2"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "unknown setting 'nodez' (did you mean 'nodes'?)" in r.stderr
