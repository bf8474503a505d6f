"""Changing a running lab's mesh mode, as relabelling a namespace does in Istio."""

import pytest

from meshlab import Lab
from meshlab.errors import LabError

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"


def roles(r):
    return {h.role for h in r.path.hops}


def test_enrolling_in_ambient_needs_no_restart_and_sidecars_do(backend):
    with Lab("bookinfo", backend=backend, verbose=False) as lab:
        pids = {p["pod"]: p["pid"] for p in lab.pods()}
        assert roles(lab.request("client", PAGE)) == {"client", "app"}

        report = lab.set_mode("ambient")
        assert report["restarted"] == [] and len(report["enrolled"]) == 7
        assert {p["pod"]: p["pid"] for p in lab.pods()} == pids  # the same processes
        r = lab.request("client", PAGE)
        assert r.status == 200 and "ztunnel" in roles(r) and lab.mode == "ambient"

        report = lab.set_mode("sidecar")
        assert len(report["restarted"]) == 7  # injection recreates pods
        assert all(p["pid"] != pids[p["pod"]] for p in lab.pods())
        r = lab.request("client", PAGE)
        assert r.status == 200 and "sidecar" in roles(r) and "ztunnel" not in roles(r)
        assert not [n for n in lab.proxies if n.startswith("ztunnel-")]  # no ambient pod left

        lab.set_mode("none")
        r = lab.request("client", PAGE)
        assert r.status == 200 and roles(r) == {"client", "app"} and not lab.proxies


def test_one_namespace_at_a_time_and_bad_values(backend):
    with Lab("minimal", backend=backend, verbose=False) as lab:
        with pytest.raises(LabError, match="no namespace named 'prod'"):
            lab.set_mode("ambient", namespace="prod")
        with pytest.raises(LabError, match="allowed: none, sidecar, ambient"):
            lab.set_mode("sidecars")
        assert lab.set_mode("ambient", namespace="default")["enrolled"] == ["client-0", "server-0"]
        assert lab.set_mode("ambient") == {"restarted": [], "enrolled": [], "left": []}
        assert lab.request().status == 200


def test_from_sidecar_straight_to_ambient(backend):
    """Leaving sidecar mode for ambient restarts the pods (their sidecars go) and ztunnels take
    over the pod IPs' ports."""
    with Lab("minimal", mode="sidecar", backend=backend, verbose=False) as lab:
        report = lab.set_mode("ambient")
        assert report["restarted"] == ["client-0", "server-0"] and report["enrolled"] == [
            "client-0",
            "server-0",
        ]
        r = lab.request()
        assert r.status == 200 and {h.role for h in r.path.hops} == {"client", "ztunnel", "app"}
        assert sorted(lab.proxies) == ["ztunnel-node-1", "ztunnel-node-2"]
