"""The tasks of notebook 10 (meshlab.tasks.migration) on a running two-namespace Bookinfo (loopback),
each three ways — blank (fails, nothing applied), a wrong answer (fails, naming what is wrong), the
solution (passes) — and with another learner's parameters. The answers and solutions are the ones
in solutions/ (for each variant); other wrong answers are written here."""

import pytest

from meshlab import Lab
from meshlab.classroom.solutions import answer_for
from meshlab.exercises import fill
from meshlab.tasks import TASKS

pytestmark = pytest.mark.integration

ROUTE = TASKS["migrate-without-losing-the-route"]
POLICY = TASKS["l7-policy-to-the-waypoint"]
TOPOLOGY = "bookinfo-two-namespaces"


def begin(task, params):
    lab = Lab(TOPOLOGY, mode="sidecar", verbose=False).start()
    task.setup(lab, params)
    return lab


@pytest.mark.parametrize("params", [ROUTE.variants[0], {"version": "v1"}], ids=["v3", "v1"])
def test_keep_the_route_while_frontend_moves(params):
    lab = begin(ROUTE, params)
    try:
        assert {r["pod"]: r["mesh"] for r in lab.pods()}["productpage-v1-0"] == "sidecar"
        in_force = len(lab.policies())
        blank = ROUTE.check(lab, ROUTE.skeleton, params)
        assert blank.passed is False and "blanks" in blank.message and len(lab.policies()) == in_force
        # the waypoint in the wrong namespace: frontend moves, and the route is lost
        wrong = ROUTE.check(lab, answer_for(ROUTE, params, wrong=True), params)
        assert wrong.passed is False and f"the route to reviews {params['version']} was lost" in wrong.message
        assert "no Gateway defines" in wrong.message
        # injection back on: frontend's pods get back their sidecars (and the route holds, applied by
        # productpage's sidecar)
        kept = ROUTE.check(lab, fill(ROUTE.skeleton, "backend", "waypoint", "ambient", "enabled"), params)
        assert kept.passed is False and "productpage-v1-0 (sidecar)" in kept.message
        assert "route" not in kept.message
        if params["version"] == "v3":  # another learner's version: this learner's lab still sends v3
            assert ROUTE.check(lab, answer_for(ROUTE), {"version": "v2"}).passed is False
        right = ROUTE.check(lab, answer_for(ROUTE, params), params)
        assert right.passed is True, right.message
    finally:
        lab.stop()


def test_relabelling_first_loses_the_route():
    """The wrong order, measured: frontend relabelled with no waypoint for reviews."""
    lab = begin(ROUTE, ROUTE.variants[0])
    try:
        lab.set_mode("ambient", namespace="frontend")
        res = ROUTE.verify(lab, ROUTE.variants[0], None)
        assert res.passed is False and "no waypoint carries reviews' traffic" in res.message
    finally:
        lab.stop()


@pytest.mark.parametrize(
    "params",
    [POLICY.variants[0], {"service": "details", "method": "POST"}],
    ids=["reviews-DELETE", "details-POST"],
)
def test_move_the_policy_to_the_waypoint(params):
    service, other = params["service"], "ratings"
    lab = begin(POLICY, params)
    try:
        assert set(r["mesh"] for r in lab.pods()) == {"ambient", "waypoint"}
        blank = POLICY.check(lab, POLICY.skeleton, params)
        assert blank.passed is False and "blanks" in blank.message
        # as the setup left it: the selector-bound L7 ALLOW, enforced by ztunnel as deny-all
        stuck = POLICY.verify(lab, params, None)
        assert stuck.passed is False and "still bound by selector" in stuck.message
        assert "was refused, but at connection" in stuck.message
        # bound to another service: nobody enforces GET-only on this one
        wrong = POLICY.check(lab, answer_for(POLICY, params, wrong=True), params)
        assert f"name: {other}" in answer_for(POLICY, params, wrong=True)
        assert wrong.passed is False and f"{params['method']} to {service} was answered" in wrong.message
        # the right service, the wrong method: the waypoint refuses productpage's GETs
        swapped = POLICY.check(lab, fill(POLICY.skeleton, "Service", service, params["method"]), params)
        assert swapped.passed is False and "the rule must allow what productpage sends" in swapped.message
        right = POLICY.check(lab, answer_for(POLICY, params), params)
        assert right.passed is True, right.message
    finally:
        lab.stop()


def gateway(namespace: str) -> str:
    return (
        f"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: waypoint, namespace: "
        f"{namespace}}}\nspec:\n  gatewayClassName: istio-waypoint\n  listeners:\n"
        "  - {name: mesh, port: 15008, protocol: HBONE}\n"
    )


def test_a_waypoint_deployed_later_that_sorts_first_moves_no_pod():
    """A learner's wrong answer deploys a waypoint in frontend, the next one in backend, which the layout
    numbers first: the running waypoint keeps its address (the lab refused the second apply before) and
    the new one gets a free one."""
    with Lab(TOPOLOGY, mode="ambient", verbose=False) as lab:
        lab.apply(gateway("frontend"))
        first = lab.pod_ip("waypoint-0")
        lab.apply(
            gateway("backend") + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: reviews\n"
            "  namespace: backend\n  labels: {istio.io/use-waypoint: waypoint}\n"
        )
        assert lab.pod_ip("waypoint-0") == first
        assert lab.pod_ip("waypoint-backend-0") not in {
            r["ip"] for r in lab.pods() if r["pod"] != "waypoint-backend-0"
        }
        r = lab.request("client", "http://productpage:9080/productpage")
        assert r.status == 200 and "waypoint-backend-0" in [h.name for h in r.path.hops]
