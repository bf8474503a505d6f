"""The tasks of notebook 11 (meshlab.tasks.observability) on a running Bookinfo (loopback), each
three ways — blank (fails), a wrong answer (fails, naming what is wrong), the solution (passes) —
and with other learners' parameters: every seeded fault of find-the-fault, another service for
let-the-waypoint-through. The answers and solutions are the ones in solutions/ (for each variant);
other wrong answers are written here."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from meshlab import Lab
from meshlab.classroom.solutions import answer_for, run_lab_answer
from meshlab.exercises import fill
from meshlab.tasks import TASKS
from meshlab.tasks.observability import BASELINE, WAYPOINT_PRINCIPAL

pytestmark = pytest.mark.integration

FAULT = TASKS["find-the-fault"]
WAYPOINT = TASKS["let-the-waypoint-through"]


def requests_by(lab, proxy: str) -> dict[tuple, float]:
    """A proxy's istio_requests_total by (reporter, destination service, response code, response flags)."""
    out: dict[tuple, float] = {}
    for family in text_string_to_metric_families(lab.metrics(proxy)):
        for s in family.samples:
            if s.name == "istio_requests_total":
                k = (
                    s.labels["reporter"],
                    s.labels["destination_service_name"],
                    s.labels["response_code"],
                    s.labels["response_flags"],
                )
                out[k] = out.get(k, 0) + s.value
    return out


#: what the metrics show for each seeded fault: (proxy, reporter, service, code, flags)
SYMPTOM = {
    "abort": ("reviews-v2-0/istio-proxy", "source", "ratings", "500", "FI"),
    "subset": ("reviews-v2-0/istio-proxy", "source", "ratings", "503", "NC"),
    "deny": ("details-v1-0/istio-proxy", "destination", "details", "403", "-"),
    "tls": ("productpage-v1-0/istio-proxy", "source", "details", "503", "UC"),
}


@pytest.fixture(scope="module")
def sidecar_lab():
    lab = Lab("bookinfo", mode="sidecar", verbose=False).start()
    yield lab
    lab.stop()


@pytest.mark.parametrize("fault", [v["fault"] for v in FAULT.variants])
def test_find_the_fault_each_variant(sidecar_lab, fault):
    lab, params = sidecar_lab, {"fault": fault}
    lab.delete(all=True) if lab.policies() else None
    FAULT.setup(lab, params)
    # not answered yet
    assert FAULT.check(lab, None, params).passed is False
    # broken as set up: the symptom is measured, and the metrics show where
    broken = FAULT.check(lab, "done", params)
    assert broken.passed is False and "the symptom is still there" in broken.message, broken.message
    proxy, *key = SYMPTOM[fault]
    assert requests_by(lab, proxy).get(tuple(key), 0) > 0, (fault, requests_by(lab, proxy))
    # wrong: everything deleted — the pages are whole, but the fix was not targeted
    run_lab_answer(answer_for(FAULT, params, wrong=True), FAULT, lab, params)
    wrong = FAULT.check(lab, "done", params)
    assert wrong.passed is False and "not targeted" in wrong.message and "symptom" not in wrong.message
    assert "VirtualService reviews" in wrong.message
    # the targeted fix (the solution sets the task up again first: ex.begin, as the notebook's answer cell)
    run_lab_answer(answer_for(FAULT, params), FAULT, lab, params)
    right = FAULT.check(lab, "done", params)
    assert right.passed is True, right.message


def test_find_the_fault_keeps_strict(sidecar_lab):
    """Loosening mTLS to PERMISSIVE also makes the pages whole for the tls fault: not the fix asked for."""
    lab, params = sidecar_lab, {"fault": "tls"}
    lab.delete(all=True) if lab.policies() else None
    FAULT.setup(lab, params)
    lab.apply(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\n"
        "spec: {mtls: {mode: PERMISSIVE}}\n"
    )
    res = FAULT.check(lab, "done", params)
    assert res.passed is False and "no longer STRICT" in res.message
    assert "symptom" not in res.message  # PERMISSIVE did make the pages whole


def test_baseline_alone_is_healthy(sidecar_lab):
    lab = sidecar_lab
    lab.delete(all=True) if lab.policies() else None
    lab.apply(BASELINE)
    assert FAULT.verify(lab, FAULT.variants[0], None).passed is True


@pytest.mark.parametrize(
    "params", [WAYPOINT.variants[0], WAYPOINT.variants[1]], ids=["productpage", "reviews"]
)
def test_let_the_waypoint_through(params):
    service, account = params["service"], params["account"]
    caller = f"cluster.local/ns/default/sa/{account}"
    lab = Lab("bookinfo", mode="ambient", verbose=False).start()
    try:
        WAYPOINT.setup(lab, params)
        blank = WAYPOINT.check(lab, WAYPOINT.skeleton, params)
        assert blank.passed is False and "4 blanks" in blank.message
        stuck = WAYPOINT.verify(lab, params, None)
        assert stuck.passed is False and f"{service} is still out of reach" in stuck.message
        # what the learner reads: the destination ztunnel refused the waypoint's identity (and the
        # intruder's, which the check sent around the waypoint)
        denied = {s.peer_identity for s in lab.spans() if s.role == "ztunnel" and s.decision == "deny"}
        intruder = f"spiffe://cluster.local/ns/default/sa/bookinfo-{params['intruder'].split('-')[0]}"
        intruder = intruder.replace("bookinfo-client", "curl")
        assert denied == {"spiffe://" + WAYPOINT_PRINCIPAL, intruder}
        # wrong: the caller listed twice — the waypoint's identity is still refused
        wrong = WAYPOINT.check(lab, answer_for(WAYPOINT, params, wrong=True), params)
        assert wrong.passed is False and "still out of reach" in wrong.message
        # wrong: everyone allowed — the pages are whole, but the intruder gets around the waypoint
        everyone = WAYPOINT.check(
            lab, fill(WAYPOINT.skeleton, f"{service}-callers", service, '"*"', caller), params
        )
        assert (
            everyone.passed is False
            and "reached" in everyone.message
            and "out of reach" not in everyone.message
        )
        right = WAYPOINT.check(lab, answer_for(WAYPOINT, params), params)
        assert WAYPOINT_PRINCIPAL in answer_for(WAYPOINT, params)
        assert right.passed is True, right.message
        # another learner's service: this lab's other services have no waypoint, nothing refuses them —
        # but deleting the policy is no answer for them either
        lab.delete(kind="AuthorizationPolicy", name=f"{service}-callers")
        gone = WAYPOINT.verify(lab, params, None)
        assert gone.passed is False and "no ALLOW policy selects" in gone.message
    finally:
        lab.stop()


def test_denials_are_counted_where_they_happen():
    """As Istio's stats do: a request an L7 policy refuses at the waypoint is counted there (403,
    reporter=waypoint); a connection ztunnel refuses is counted with response_flags DENY."""
    lab = Lab("bookinfo", mode="ambient", waypoints=["reviews"], verbose=False).start()
    try:
        lab.apply(
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: no-reviews}\n"
            "spec:\n  targetRefs:\n  - {kind: Service, group: \"\", name: reviews}\n  action: DENY\n"
            "  rules:\n  - to:\n    - operation: {methods: [GET]}\n"
        )
        assert lab.request("client", "http://reviews:9080/reviews/0").status == 403
        assert requests_by(lab, "waypoint-0").get(("waypoint", "reviews", "403", "-"), 0) == 1
        lab.delete(all=True)
        WAYPOINT.setup(lab, WAYPOINT.variants[1])  # reviews' L4 policy refuses the waypoint
        lab.request("client", "http://productpage:9080/productpage")
        flags = {
            s.labels["response_flags"]
            for z in ("ztunnel-node-1", "ztunnel-node-2")
            for f in text_string_to_metric_families(lab.metrics(z))
            for s in f.samples
            if s.name == "istio_tcp_connections_closed_total"
            and s.value > 0
            and s.labels["source_principal"] == WAYPOINT_PRINCIPAL
        }
        opened = {
            s.labels["response_flags"]
            for z in ("ztunnel-node-1", "ztunnel-node-2")
            for f in text_string_to_metric_families(lab.metrics(z))
            for s in f.samples
            if s.name == "istio_tcp_connections_opened_total"
            and s.labels["source_principal"] == WAYPOINT_PRINCIPAL
        }
        assert opened == {"-"}, opened  # as ztunnel: a connection is counted open before the verdict
        assert "DENY" in flags, flags
    finally:
        lab.stop()
