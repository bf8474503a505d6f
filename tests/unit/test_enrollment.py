"""Enrollment by Istio's labels and waypoint Gateways (meshlab/enrollment.py), pure: what a
Namespace, Service or Gateway a learner applies does to who is in the mesh and who uses which
waypoint — and that whatever a lab holds, exported and applied to a fresh lab, is the same lab."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from meshlab import Lab, enrollment, mesh
from meshlab.errors import PolicyError
from meshlab.policy.loader import load_policies
from meshlab.topology import load_topology

BOOKINFO = load_topology("bookinfo")
SERVICES = ("productpage", "details", "reviews", "ratings")


def namespace(**labels) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default", "labels": labels}}


def service(name: str, waypoint: str | None) -> dict:
    labels = {"istio.io/use-waypoint": waypoint} if waypoint else {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
    }


def gateway(name: str = "waypoint") -> dict:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "default", "labels": {"istio.io/waypoint-for": "service"}},
        "spec": {
            "gatewayClassName": "istio-waypoint",
            "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
        },
    }


AMBIENT = namespace(**{"istio.io/dataplane-mode": "ambient"})


def planned(*docs, base=BOOKINFO):
    e = enrollment.applied(enrollment.Enrollment.of(base), docs)
    return e, enrollment.plan(base, e)


def apps(pod_mesh: dict) -> dict:
    return {p: m for p, m in pod_mesh.items() if m != "waypoint"}


def test_a_namespace_label_enrolls_its_pods():
    _, (_, sidecar, _) = planned(namespace(**{"istio-injection": "enabled"}))
    _, (_, ambient, _) = planned(AMBIENT)
    assert set(apps(sidecar).values()) == {"sidecar"} and set(apps(ambient).values()) == {"ambient"}


def test_injection_wins_over_ambient_as_in_istio():
    _, (_, both, _) = planned(
        namespace(**{"istio-injection": "enabled", "istio.io/dataplane-mode": "ambient"})
    )
    assert set(apps(both).values()) == {"sidecar"}


def test_a_waypoint_gateway_is_deployed_but_used_by_nobody_until_a_label_says_so():
    _, (topo, pods, of) = planned(AMBIENT, gateway())
    assert pods["waypoint-0"] == "waypoint" and of == {}
    _, (_, _, of) = planned(AMBIENT, gateway(), service("reviews", "waypoint"))
    assert of == {("default", "reviews"): "waypoint-0"}


def test_a_label_naming_a_waypoint_that_does_not_exist_is_not_followed_and_said():
    e, (_, pods, of) = planned(AMBIENT, service("reviews", "waypoint"))
    assert of == {} and "waypoint" not in pods.values()
    [warning] = enrollment.missing_waypoints(BOOKINFO, e)
    assert "default/reviews uses waypoint 'waypoint', which no Gateway defines" in warning
    assert "straight to the destination" in warning


def test_a_service_label_beats_the_namespace_label_and_none_opts_out():
    ns = namespace(**{"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"})
    _, (_, _, of) = planned(
        ns, gateway(), gateway("reviews-wp"), service("reviews", "reviews-wp"), service("ratings", "none")
    )
    assert of == {
        ("default", "productpage"): "waypoint-0",
        ("default", "details"): "waypoint-0",
        ("default", "reviews"): "reviews-wp-0",
    }


def test_waypoint_labels_outside_ambient_do_nothing():
    _, (_, pods, of) = planned(
        namespace(**{"istio-injection": "enabled"}), gateway(), service("reviews", "waypoint")
    )
    assert of == {} and pods["waypoint-0"] == "waypoint"  # deployed, as Istio would, and unused


def test_applied_namespaces_merge_labels_as_kubectl_apply_does():
    """Three-way merge: a label the last applied document set and this one leaves out goes;
    labels set otherwise (the topology, Lab(mode=...), set_mode) stay."""
    e, _ = planned(AMBIENT)
    e = enrollment.applied(e, [namespace(team="a")])  # dataplane-mode was ours: it goes
    assert e.namespace_labels["default"] == {"team": "a"}
    base = enrollment.with_mode(BOOKINFO, "ambient")  # ambient from Lab(mode=...), not from a document
    e = enrollment.applied(
        enrollment.Enrollment.of(base), [gateway(), namespace(**{"istio.io/use-waypoint": "waypoint"})]
    )
    assert e.namespace_labels["default"] == {
        "istio.io/dataplane-mode": "ambient",
        "istio.io/use-waypoint": "waypoint",
    }
    _, pods, of = enrollment.plan(base, e)
    assert set(apps(pods).values()) == {"ambient"} and len(of) == 4


def test_a_namespace_waypoint_from_istioctl_yields_to_the_services_own_labels():
    base = enrollment.with_mode(BOOKINFO, "ambient")
    e = enrollment.applied(
        enrollment.Enrollment.of(base, "namespace"),
        [gateway("reviews-wp"), service("reviews", "reviews-wp"), service("ratings", "none")],
    )
    _, _, of = enrollment.plan(base, e)
    assert of == {
        ("default", "productpage"): "waypoint-0",
        ("default", "details"): "waypoint-0",
        ("default", "reviews"): "reviews-wp-0",
    }


def test_istioctl_waypoints_leave_when_yaml_takes_the_namespace_out_of_ambient():
    base = enrollment.with_mode(BOOKINFO, "ambient")
    e = enrollment.applied(
        enrollment.Enrollment.of(base, ["reviews"]), [namespace(**{"istio-injection": "enabled"})], base
    )
    assert e.waypoints is None and enrollment.plan(base, e)[2] == {}


def test_a_waypoint_keeps_its_pod_whatever_other_waypoints_come():
    """Pod names (and so the process and its identity) must not move from one namespace's
    waypoint to another's when a second waypoint appears."""
    base = enrollment.with_mode(load_topology("mtls-migration"), "ambient")
    first_ns = base.namespaces[0].name
    other = next(n.name for n in base.namespaces[1:])
    gw = lambda ns: {**gateway(), "metadata": {**gateway()["metadata"], "namespace": ns}}  # noqa: E731
    _, pods1, _ = enrollment.plan(base, enrollment.applied(enrollment.Enrollment.of(base), [gw(other)]))
    _, pods2, _ = enrollment.plan(
        base, enrollment.applied(enrollment.Enrollment.of(base), [gw(other), gw(first_ns)])
    )
    wp1 = {p for p, m in pods1.items() if m == "waypoint"}
    assert wp1 == {f"waypoint-{other}-0"} and wp1 < {p for p, m in pods2.items() if m == "waypoint"}


def test_deleting_label_objects_takes_the_labels_back_to_the_topologys():
    docs = [AMBIENT, gateway(), service("reviews", "waypoint")]
    e, _ = planned(*docs)
    back = enrollment.deleted(e, docs, BOOKINFO)
    assert enrollment.plan(BOOKINFO, back) == enrollment.plan(BOOKINFO, enrollment.Enrollment.of(BOOKINFO))


def test_istioctl_waypoints_leave_with_their_namespace():
    base = enrollment.with_mode(BOOKINFO, "ambient")
    e = enrollment.Enrollment.of(base, ["reviews"])
    e = enrollment.set_mode(e, base, "sidecar", ["default"])
    assert e.waypoints is None and enrollment.plan(base, e)[2] == {}


MESH_LABELS = st.fixed_dictionaries(
    {},
    optional={
        "istio-injection": st.sampled_from(["enabled", "disabled"]),
        "istio.io/dataplane-mode": st.sampled_from(["ambient", "none"]),
        "istio.io/use-waypoint": st.sampled_from(["waypoint", "none"]),
    },
)
SERVICE_LABELS = st.dictionaries(
    st.sampled_from(SERVICES), st.sampled_from(["waypoint", "reviews-wp", "none", None])
)


@settings(max_examples=60, deadline=None)
@given(MESH_LABELS, SERVICE_LABELS, st.sets(st.sampled_from(["waypoint", "reviews-wp"])))
def test_only_ambient_services_use_waypoints_and_only_ones_that_exist(ns_labels, svc_labels, gws):
    docs = [
        namespace(**ns_labels),
        *(gateway(g) for g in sorted(gws)),
        *(service(s, wp) for s, wp in svc_labels.items()),
    ]
    e, (topo, pods, of) = planned(*docs)
    for (ns, svc), pod in of.items():
        assert pods[pod] == "waypoint"
        s = next(x for x in topo.services if x.name == svc)
        assert all(pods[p.name] == "ambient" for p in topo.endpoints(s))
        name = topo.pod(pod).labels["gateway.networking.k8s.io/gateway-name"]
        assert (svc_labels.get(svc) or ns_labels.get("istio.io/use-waypoint")) == name and name in gws
    assert {
        topo.pod(p).labels["gateway.networking.k8s.io/gateway-name"]
        for p, m in pods.items()
        if m == "waypoint"
    } == gws  # every Gateway deployed, nothing else


# -- apply(export(x)): the lab's state survives the trip to YAML and back ------------------------


def fresh_lab(**kw) -> Lab:
    return Lab("bookinfo", verbose=False, **kw)  # never started: apply works on a stopped lab


def exported_documents(lab: Lab) -> list[dict]:
    m = lab.export()
    services = [d for d in m.apps if d["kind"] == "Service"]  # the rest of 10-apps.yaml is the topology's
    return [*m.namespaces, *services, *m.waypoint_gateways, *m.policies]


def same_lab(a: Lab, b: Lab) -> None:
    assert a.mesh == b.mesh and a.waypoint_of == b.waypoint_of
    assert {n.name: dict(n.labels) for n in a.topology.namespaces} == {
        n.name: dict(n.labels) for n in b.topology.namespaces
    }
    istio = [(o.kind, o.namespace, o.name, o.spec) for o in a.policies() if o.kind not in enrollment.KINDS]
    assert istio == [
        (o.kind, o.namespace, o.name, o.spec) for o in b.policies() if o.kind not in enrollment.KINDS
    ]


SAMPLES = str(Path(__file__).resolve().parents[2] / "topologies/samples/bookinfo") + "/"


@pytest.mark.parametrize(
    "setup",
    [
        dict(
            mode="ambient",
            waypoints=["reviews"],
            apply=["destination-rule-all.yaml", "virtual-service-reviews-50-v3.yaml"],
        ),
        dict(
            mode="ambient",
            waypoints="namespace",
            apply=["destination-rule-all.yaml", "virtual-service-ratings-test-abort.yaml"],
        ),
        dict(mode="sidecar", apply=["destination-rule-all.yaml", "request-timeouts.yaml"]),
        dict(mode=None, apply=[], docs=[AMBIENT, gateway("reviews-wp"), service("reviews", "reviews-wp")]),
        dict(mode="none", apply=[], docs=[namespace(**{"istio-injection": "enabled"})]),
        dict(
            mode="none",
            apply=[],
            docs=[namespace(**{"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"})],
        ),
    ],
    ids=[
        "ambient-waypoint-for-reviews",
        "ambient-namespace-waypoint",
        "sidecar",
        "yaml-enrolled",
        "yaml-sidecar",
        "label-without-gateway",
    ],
)
def test_apply_of_export_round_trips_the_labs_state(setup):
    a = fresh_lab(mode=setup["mode"], waypoints=setup.get("waypoints"))
    for f in setup["apply"]:
        a.apply(SAMPLES + f)
    if setup.get("docs"):
        a.apply(setup["docs"])
    b = fresh_lab(mode="none")
    b.apply(exported_documents(a))
    same_lab(a, b)
    assert exported_documents(b) == exported_documents(a)  # and exporting again changes nothing


def test_an_exported_service_whose_spec_differs_from_the_topology_is_refused():
    lab = fresh_lab()
    [svc] = [d for d in lab.export().apps if d["kind"] == "Service" and d["metadata"]["name"] == "reviews"]
    svc["spec"]["ports"][0]["targetPort"] = 9999
    with pytest.raises(PolicyError, match=r"spec.ports\[0\].*differs from the topology's"):
        lab.apply(svc)
    assert lab.policies() == []


def test_enrolling_yaml_for_a_namespace_the_lab_lacks_changes_nothing():
    lab = fresh_lab(mode="ambient")
    before = (dict(lab.mesh), dict(lab.waypoint_of))
    bad = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "prod", "labels": {"istio-injection": "enabled"}},
    }
    with pytest.raises(PolicyError, match="no namespace 'prod'"):
        lab.apply([gateway(), bad])
    assert (dict(lab.mesh), dict(lab.waypoint_of)) == before and lab.policies() == []


def test_a_stopped_lab_takes_enrollment_yaml_and_reports_like_kubectl():
    lab = fresh_lab(mode="none")
    out = lab.apply([AMBIENT, gateway(), service("reviews", "waypoint")])
    assert out == [
        "namespace/default configured",
        "gateway/waypoint -n default created",
        "service/reviews -n default configured",
    ]
    assert lab.waypoint_of == {("default", "reviews"): "waypoint-0"} and lab.mode == "ambient"
    assert lab.delete(kind="Gateway", name="waypoint") == ["gateway/waypoint -n default deleted"]
    assert lab.waypoint_of == {} and "waypoint-0" not in lab.mesh
    assert any("no Gateway defines" in w for w in lab.apply(service("reviews", "waypoint")) and lab.warnings)
    assert mesh.describe(lab.mesh) == "ambient"
    load_policies(lab.policies_yaml())  # what is in force reads back as Istio YAML
