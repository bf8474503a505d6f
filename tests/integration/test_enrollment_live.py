"""Enrollment by YAML on a running lab, as in Istio's ambient getting-started: label the
namespace, deploy a waypoint Gateway, label a service to use it — and back out again — with
real traffic after each step, on both backends."""

import pytest

from meshlab import Lab

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"

AMBIENT = """\
apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels:
    istio.io/dataplane-mode: ambient
"""
SIDECAR = AMBIENT.replace("istio.io/dataplane-mode: ambient", "istio-injection: enabled")
WAYPOINT = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  labels:
    istio.io/waypoint-for: service
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
"""
REVIEWS_USES_WAYPOINT = """\
apiVersion: v1
kind: Service
metadata:
  name: reviews
  labels:
    istio.io/use-waypoint: waypoint
"""


def roles_to(lab, app_prefix):
    """The proxy roles on productpage's call to the first app named app_prefix*: the hops
    before that app, each one level deeper than the last, below productpage."""
    hops = lab.request("client", PAGE).path.hops
    i = next(k for k, h in enumerate(hops) if h.role == "app" and h.name.startswith(app_prefix))
    pp = next(h for h in hops if h.name == "productpage-v1-0")
    j = i
    while j > 0 and pp.depth < hops[j - 1].depth < hops[j].depth:
        j -= 1
    return [h.role for h in hops[j:i]]


def test_enrolling_by_yaml_on_a_running_lab(backend):
    with Lab("bookinfo", mode="none", backend=backend, verbose=False) as lab:
        pids = {p: w.pid for p, w in lab.workers.items()}
        assert lab.request("client", PAGE).status == 200 and roles_to(lab, "details-") == []

        assert lab.apply(AMBIENT) == ["namespace/default configured"]
        assert lab.mode == "ambient" and roles_to(lab, "details-") == ["ztunnel", "ztunnel"]
        assert {p: w.pid for p, w in lab.workers.items()} == pids  # ambient: no pod restarted

        lab.apply(REVIEWS_USES_WAYPOINT)  # a label naming a waypoint nobody deployed:
        assert any("no Gateway defines" in w for w in lab.warnings)
        assert roles_to(lab, "reviews-") == ["ztunnel", "ztunnel"]  # ... traffic goes straight there

        assert lab.apply(WAYPOINT) == ["gateway/waypoint -n default created"]
        assert lab.waypoint_of == {("default", "reviews"): "waypoint-0"} and lab.proxies["waypoint-0"].alive()
        assert roles_to(lab, "reviews-") == ["ztunnel", "waypoint", "ztunnel"]
        assert roles_to(lab, "details-") == ["ztunnel", "ztunnel"]  # only reviews opted in

        lab.delete(WAYPOINT)
        assert "waypoint-0" not in lab.proxies and roles_to(lab, "reviews-") == ["ztunnel", "ztunnel"]

        lab.apply(SIDECAR)  # injection happens at pod creation: restarts
        assert lab.mode == "sidecar" and all(lab.workers[p].pid != pid for p, pid in pids.items())
        assert roles_to(lab, "details-") == ["sidecar", "sidecar"]
        assert "ztunnel-node-1" not in lab.proxies

        assert lab.delete(kind="Namespace", name="default") == [
            "namespace/default deleted (the lab keeps it: its mesh labels return to the topology's)"
        ]
        assert lab.mode == "none" and roles_to(lab, "details-") == []
        assert lab.request("client", PAGE).status == 200


def test_the_export_says_what_the_lab_is_now_however_it_got_so(backend):
    """An applied Namespace, then set_mode (kubectl label) over it: the export follows the lab
    as it is, not the document as it was applied."""
    with Lab("minimal", mode="none", backend=backend, verbose=False) as lab:
        lab.apply(AMBIENT)
        lab.set_mode("sidecar")
        m = lab.export()
        assert set(m.mesh_of_pod.values()) == {"sidecar"} == {v for v in lab.mesh.values()}
        [ns] = m.namespaces
        assert ns["metadata"]["labels"] == {"istio-injection": "enabled"}
        [applied] = lab.policies()  # the object in force shows the live labels
        assert applied.labels == {"istio-injection": "enabled"}
