"""Tests of the export to a real cluster (meshlab/export.py, export_images.py, export_readme.py) and
of `meshlab export` (no lab starts, so the command's tests are unit tests too).

Every Kubernetes object is checked against Kubernetes' own OpenAPI schemas (kubernetes-validate,
strict: unknown fields are errors), and then for what the schemas cannot say: a Deployment's
selector matches its pod template, a Service selects pods that listen on its targetPort, a pod's
service account is exported. Istio and Gateway API objects (whose CRD schemas do not ship with
kubernetes-validate) are checked field by field against Istio's documented form.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from meshlab import mesh
from meshlab.cli import main
from meshlab.cli.files import read_policy_files
from meshlab.errors import MeshlabError
from meshlab.export import ExportError, FILES, MARKER, export, manifests, waypoint_gateway
from meshlab.policy.builder import http_route
from meshlab.topology import load_topology

K8S_VERSION = "1.32"  # kind's node image in 2025-26; Istio 1.28 supports 1.30 - 1.34
TOPOLOGIES = ("bookinfo", "httpbin", "minimal")
CORE_KINDS = {("v1", "Namespace"), ("v1", "ServiceAccount"), ("v1", "Service"), ("apps/v1", "Deployment")}

# Istio's traffic-shifting task: samples/bookinfo/networking/virtual-service-reviews-50-v3.yaml
REVIEWS_50_V3 = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
    - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 50
    - destination:
        host: reviews
        subset: v3
      weight: 50
"""
# ... and the subsets it needs (samples/bookinfo/networking/destination-rule-all.yaml, reviews part)
REVIEWS_SUBSETS = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
  - name: v3
    labels:
      version: v3
"""


def docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def one(objs, kind, name):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def check_kubernetes_objects(objs: list[dict]) -> None:
    """What `kubectl apply` would check, and what it would not but a working cluster needs."""
    for o in objs:
        assert o.get("apiVersion") and o.get("kind") and o["metadata"].get("name"), o
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace"), f"{o['kind']} {o['metadata']['name']} has no namespace"
        if (o["apiVersion"], o["kind"]) in CORE_KINDS:
            kubernetes_validate.validate(o, K8S_VERSION, strict=True)
    namespaces = {o["metadata"]["name"] for o in by_kind(objs, "Namespace")}
    accounts = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in by_kind(objs, "ServiceAccount")}
    deployments = by_kind(objs, "Deployment")
    for d in deployments:
        ns, pod = d["metadata"]["namespace"], d["spec"]["template"]
        assert ns in namespaces
        sel = d["spec"]["selector"]["matchLabels"]
        assert sel and all(pod["metadata"]["labels"].get(k) == v for k, v in sel.items()), d["metadata"][
            "name"
        ]
        sa = pod["spec"]["serviceAccountName"]
        assert sa == "default" or (ns, sa) in accounts, f"{d['metadata']['name']}: no ServiceAccount {sa}"
        assert pod["spec"]["containers"] and all(c["image"] for c in pod["spec"]["containers"])
        mounts = {m["name"] for c in pod["spec"]["containers"] for m in c.get("volumeMounts", [])}
        assert mounts <= {v["name"] for v in pod["spec"].get("volumes", [])}
    for other in deployments:  # no two Deployments fight over the same pods
        for d in deployments:
            if d is not other and d["metadata"]["namespace"] == other["metadata"]["namespace"]:
                sel = d["spec"]["selector"]["matchLabels"]
                labels = other["spec"]["template"]["metadata"]["labels"]
                assert not all(labels.get(k) == v for k, v in sel.items()), (
                    d["metadata"]["name"],
                    other["metadata"]["name"],
                )
    for s in by_kind(objs, "Service"):
        ns, sel = s["metadata"]["namespace"], s["spec"]["selector"]
        picked = [
            d
            for d in deployments
            if d["metadata"]["namespace"] == ns
            and all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
        ]
        assert picked, f"Service {s['metadata']['name']} selects no pod"
        for port in s["spec"]["ports"]:
            assert port["name"].startswith(("http", "tcp", "grpc"))  # Istio's protocol selection by name
            for d in picked:
                listening = {
                    p["containerPort"]
                    for c in d["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports", [])
                }
                assert port["targetPort"] in listening, (s["metadata"]["name"], d["metadata"]["name"])


def check_waypoint(gw: dict, name: str = "waypoint", namespace: str = "default") -> None:
    """The Gateway `istioctl waypoint generate --for service` writes (ISTIO-FACTS §2.3)."""
    assert gw["apiVersion"] == "gateway.networking.k8s.io/v1" and gw["kind"] == "Gateway"
    assert (gw["metadata"]["name"], gw["metadata"]["namespace"]) == (name, namespace)
    assert gw["metadata"]["labels"] == {"istio.io/waypoint-for": "service"}
    assert gw["spec"] == {
        "gatewayClassName": "istio-waypoint",
        "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
    }


# -- every object, every shipped topology, every mode ------------------------------------------------


@pytest.mark.parametrize("mode", [None, "none", "sidecar", "ambient"])
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_every_exported_object_is_a_valid_kubernetes_object(topology, mode):
    m = manifests(topology, mode)
    check_kubernetes_objects(m.documents())
    topo = load_topology(topology)
    assert {d["metadata"]["name"] for d in by_kind(m.documents(), "Deployment")} == {
        w.name for w in topo.workloads
    }
    assert {s["metadata"]["name"] for s in by_kind(m.documents(), "Service")} == {
        s.name for s in topo.services
    }


def test_the_checks_catch_a_broken_deployment_and_a_service_that_selects_nothing():
    """The checks above can fail: a selector that misses its template, a string port, a Service
    pointing at no pod."""
    objs = manifests("bookinfo", "ambient").documents()
    broken = copy.deepcopy(objs)
    one(broken, "Deployment", "reviews-v2")["spec"]["selector"]["matchLabels"]["version"] = "v9"
    with pytest.raises(AssertionError):
        check_kubernetes_objects(broken)
    broken = copy.deepcopy(objs)
    one(broken, "Deployment", "details-v1")["spec"]["template"]["spec"]["containers"][0]["ports"][0][
        "containerPort"
    ] = "9080"
    with pytest.raises(kubernetes_validate.ValidationError):
        check_kubernetes_objects(broken)
    broken = copy.deepcopy(objs)
    one(broken, "Service", "ratings")["spec"]["selector"] = {"app": "rating"}
    with pytest.raises(AssertionError, match="selects no pod"):
        check_kubernetes_objects(broken)


def test_bookinfo_looks_like_istios_bookinfo_yaml():
    """Names, labels, service accounts, ports and images as in samples/bookinfo/platform/kube/bookinfo.yaml."""
    objs = manifests("bookinfo", "sidecar").documents()
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in by_kind(objs, "Deployment")
    }
    assert images == {
        "productpage-v1": "docker.io/istio/examples-bookinfo-productpage-v1:1.20.3",
        "details-v1": "docker.io/istio/examples-bookinfo-details-v1:1.20.3",
        "reviews-v1": "docker.io/istio/examples-bookinfo-reviews-v1:1.20.3",
        "reviews-v2": "docker.io/istio/examples-bookinfo-reviews-v2:1.20.3",
        "reviews-v3": "docker.io/istio/examples-bookinfo-reviews-v3:1.20.3",
        "ratings-v1": "docker.io/istio/examples-bookinfo-ratings-v1:1.20.3",
        "client": "curlimages/curl:8.16.0",
    }
    v3 = one(objs, "Deployment", "reviews-v3")
    assert v3["metadata"]["labels"] == {"app": "reviews", "version": "v3"}
    assert v3["spec"]["selector"]["matchLabels"] == {"app": "reviews", "version": "v3"}
    assert v3["spec"]["template"]["spec"]["serviceAccountName"] == "bookinfo-reviews"
    assert v3["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 9080}]
    reviews = one(objs, "Service", "reviews")
    assert reviews["spec"] == {
        "ports": [{"name": "http", "port": 9080, "targetPort": 9080}],
        "selector": {"app": "reviews"},
    }
    assert {a["metadata"]["name"] for a in by_kind(objs, "ServiceAccount")} == {
        "bookinfo-productpage",
        "bookinfo-details",
        "bookinfo-reviews",
        "bookinfo-ratings",
        "curl",
    }
    client = one(objs, "Deployment", "client")["spec"]["template"]["spec"]
    assert (
        client["containers"][0]["command"] == ["/bin/sleep", "infinity"]
        and client["serviceAccountName"] == "curl"
    )


def test_httpbin_uses_istios_httpbin_image_and_the_fortio_client():
    objs = manifests("httpbin", "sidecar").documents()
    hb = one(objs, "Deployment", "httpbin")
    assert hb["spec"]["replicas"] == 2
    c = hb["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "docker.io/mccutchen/go-httpbin:v2.15.0" and c["ports"] == [{"containerPort": 8080}]
    assert "env" not in c  # 8080 is go-httpbin's own default
    assert one(objs, "Service", "httpbin")["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": 8080}
    ]
    client = one(objs, "Deployment", "client")["spec"]["template"]["spec"]["containers"][0]
    assert (client["name"], client["image"]) == ("fortio", "fortio/fortio:latest_release")


def test_pods_prefer_the_node_they_had_in_the_lab():
    objs = manifests("bookinfo", "ambient").documents()
    for name, node in (("reviews-v1", "node-1"), ("reviews-v3", "node-2")):
        aff = one(objs, "Deployment", name)["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
        pref = aff["preferredDuringSchedulingIgnoredDuringExecution"][0]["preference"]["matchExpressions"]
        assert pref == [{"key": "meshlab/node", "operator": "In", "values": [node]}]


def _custom(**over) -> dict:
    t = {
        "name": "custom",
        "nodes": [{"name": "node-1"}],
        "namespaces": [{"name": "shop", "serviceAccounts": ["web", "db"]}],
        "services": [
            {"name": "web", "namespace": "shop", "port": 9080, "selector": {"app": "web"}},
            {
                "name": "api",
                "namespace": "shop",
                "port": 8000,
                "targetPort": 8080,
                "selector": {"app": "api"},
            },
        ],
        "workloads": [
            {
                "name": "web",
                "namespace": "shop",
                "node": "node-1",
                "serviceAccount": "web",
                "app": {"kind": "ratings", "variant": "faulty"},
            },
            {"name": "api", "namespace": "shop", "node": "node-1", "app": {"kind": "httpbin"}},
            {"name": "client", "namespace": "shop", "node": "node-1", "app": {"kind": "client"}},
        ],
    }
    t.update(over)
    return t


def test_app_parameters_become_the_images_own_settings():
    """A faulty ratings variant is ratings.js's SERVICE_VERSION=v-faulty; httpbin on another port
    is go-httpbin's $PORT."""
    t = _custom()
    t["workloads"][1]["ports"] = [8081]
    t["services"][1]["targetPort"] = 8081
    objs = manifests(t, "ambient").documents()
    check_kubernetes_objects(objs)
    web = one(objs, "Deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    assert web["env"] == [{"name": "SERVICE_VERSION", "value": "v-faulty"}]
    api = one(objs, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert api["env"] == [{"name": "PORT", "value": "8081"}] and api["ports"] == [{"containerPort": 8081}]


def test_a_bookinfo_app_on_another_port_is_refused_with_the_fix():
    t = _custom()
    t["workloads"][0]["ports"] = [9081]
    t["services"][0]["targetPort"] = 9081
    with pytest.raises(
        ExportError, match=r"shop/web: Istio's ratings image listens on 9080 only.*set its ports to \[9080\]"
    ):
        manifests(t, "ambient")


def test_calls_the_image_does_not_make_are_noted():
    t = load_topology("bookinfo")
    assert manifests(t, "ambient").notes == []
    raw = yaml.safe_load((t.source and open(t.source).read()) or "")
    raw["workloads"][0]["app"]["calls"][1]["timeout"] = "1s"
    notes = manifests(raw, "ambient").notes
    assert len(notes) == 1 and "productpage-v1" in notes[0] and "reviews:9080 (timeout 1.0s" in notes[0]


def test_link_settings_are_noted_as_not_exported():
    raw = yaml.safe_load(open(load_topology("minimal").source).read())
    raw["links"] = {"delay_ms": 20}
    (note,) = manifests(raw, "ambient").notes
    assert "links (node-1: 20 ms delay; node-2: 20 ms delay)" in note and "not exported" in note


# -- mesh modes and enrollment labels --------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, labels",
    [
        ("none", None),
        ("sidecar", {"istio-injection": "enabled"}),
        ("ambient", {"istio.io/dataplane-mode": "ambient"}),
    ],
)
def test_the_mode_gives_the_namespace_its_mesh_label(mode, labels):
    ns = one(manifests("bookinfo", mode).documents(), "Namespace", "default")
    assert ns["metadata"].get("labels") == labels


def _two_namespaces() -> dict:
    return {
        "name": "split",
        "nodes": [{"name": "node-1"}, {"name": "node-2"}],
        "namespaces": [
            {"name": "front", "labels": {"istio-injection": "enabled", "team": "a"}},
            {
                "name": "back",
                "labels": {"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"},
            },
        ],
        "services": [
            {
                "name": "server",
                "namespace": "back",
                "port": 8000,
                "targetPort": 8080,
                "selector": {"app": "server"},
            }
        ],
        "workloads": [
            {"name": "client", "namespace": "front", "node": "node-1", "app": {"kind": "client"}},
            {"name": "server", "namespace": "back", "node": "node-2", "app": {"kind": "httpbin"}},
            {
                "name": "legacy",
                "namespace": "back",
                "node": "node-2",
                "app": {"kind": "client"},
                "labels": {"istio.io/dataplane-mode": "none"},
            },
        ],
        "entry": {"from": "client", "url": "http://server.back:8000/get"},
    }


def test_without_a_mode_each_namespace_keeps_its_own_labels_as_the_lab_does():
    """mode=None mirrors mesh.mesh_by_pod: front is sidecar, back ambient with its namespace
    waypoint, and a pod labelled dataplane-mode=none stays out (its label travels with it)."""
    t = _two_namespaces()
    m = manifests(t, None)
    objs = m.documents()
    check_kubernetes_objects(objs)
    assert one(objs, "Namespace", "front")["metadata"]["labels"] == {
        "istio-injection": "enabled",
        "team": "a",
    }
    assert one(objs, "Namespace", "back")["metadata"]["labels"] == {
        "istio.io/dataplane-mode": "ambient",
        "istio.io/use-waypoint": "waypoint",
    }
    check_waypoint(one(objs, "Gateway", "waypoint"), namespace="back")
    lab = mesh.mesh_by_pod(load_topology(t))
    assert m.mesh_of_pod == {p: k or "none" for p, k in lab.items()}
    assert m.mesh_of_pod == {"client-0": "sidecar", "server-0": "ambient", "legacy-0": "none"}
    assert m.mesh_of_namespace == {"front": "sidecar", "back": "mixed"}
    legacy = one(objs, "Deployment", "legacy")["spec"]["template"]["metadata"]["labels"]
    assert legacy["istio.io/dataplane-mode"] == "none"


def test_a_mode_replaces_only_the_enrollment_labels():
    objs = manifests(_two_namespaces(), "sidecar").documents()
    assert one(objs, "Namespace", "front")["metadata"]["labels"] == {
        "team": "a",
        "istio-injection": "enabled",
    }
    assert one(objs, "Namespace", "back")["metadata"]["labels"] == {
        "istio.io/use-waypoint": "waypoint",
        "istio-injection": "enabled",
    }
    assert by_kind(objs, "Gateway") == []  # the lab builds no waypoint outside ambient


# -- waypoints -------------------------------------------------------------------------------------


def test_waypoints_for_services_label_those_services_and_add_one_gateway():
    m = manifests("bookinfo", "ambient", waypoints=["reviews", "ratings"])
    objs = m.documents()
    check_kubernetes_objects(objs)
    [gw] = by_kind(objs, "Gateway")
    check_waypoint(gw)
    assert m.waypoint_gateways == [gw] and gw == waypoint_gateway("waypoint", "default")
    used = {
        s["metadata"]["name"]
        for s in by_kind(objs, "Service")
        if s["metadata"].get("labels", {}).get("istio.io/use-waypoint") == "waypoint"
    }
    assert used == {"reviews", "ratings"}
    assert "istio.io/use-waypoint" not in one(objs, "Namespace", "default")["metadata"]["labels"]
    assert "waypoint" not in {d["metadata"]["name"] for d in by_kind(objs, "Deployment")}  # istiod makes it


def test_a_namespace_waypoint_labels_the_namespace():
    objs = manifests("httpbin", "ambient", waypoints="namespace").documents()
    assert one(objs, "Namespace", "default")["metadata"]["labels"] == {
        "istio.io/dataplane-mode": "ambient",
        "istio.io/use-waypoint": "waypoint",
    }
    check_waypoint(one(objs, "Gateway", "waypoint"))
    assert all(
        "istio.io/use-waypoint" not in s["metadata"].get("labels", {}) for s in by_kind(objs, "Service")
    )


def test_no_waypoint_means_no_gateway_and_no_use_waypoint_label():
    objs = manifests("bookinfo", "ambient").documents()
    assert by_kind(objs, "Gateway") == []
    assert not any("istio.io/use-waypoint" in o["metadata"].get("labels", {}) for o in objs)


@pytest.mark.parametrize(
    "waypoints, message",
    [
        (["reviews"], "service 'reviews' is not in an ambient namespace"),
        ("namespace", "needs an ambient namespace"),
        (["nope"], "no service named 'nope'"),
    ],
)
def test_waypoints_outside_ambient_are_refused(waypoints, message):
    with pytest.raises(ExportError, match=message):
        manifests("bookinfo", "sidecar" if waypoints != ["nope"] else "ambient", waypoints=waypoints)


# -- policies --------------------------------------------------------------------------------------


def test_policies_pass_through_unchanged_with_kubectls_default_namespace():
    vs, dr = docs(REVIEWS_50_V3)[0], docs(REVIEWS_SUBSETS)[0]
    pa = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "istio-system"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }
    given = [dr, vs, pa]
    before = copy.deepcopy(given)
    m = manifests("bookinfo", "ambient", given, waypoints=["reviews"])
    assert given == before  # the caller's dicts are not touched
    expect = copy.deepcopy(before)
    expect[0]["metadata"]["namespace"] = expect[1]["metadata"]["namespace"] = "default"
    assert m.policies == expect
    assert m.warnings == []


def test_label_documents_are_merged_into_the_exported_namespace_and_service():
    """A Namespace or Service document only sets labels in the lab: merge them, applied last."""
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "default", "labels": {"istio.io/dataplane-mode": "ambient"}},
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "reviews", "labels": {"istio.io/use-waypoint": "reviews-wp"}},
    }
    gw = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "reviews-wp", "namespace": "default"},
        "spec": {
            "gatewayClassName": "istio-waypoint",
            "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
        },
    }
    m = manifests("bookinfo", "none", [ns, svc, gw])
    objs = m.documents()
    check_kubernetes_objects(objs)
    assert len(by_kind(objs, "Namespace")) == 1 and len(by_kind(objs, "Service")) == 4
    assert one(objs, "Namespace", "default")["metadata"]["labels"] == {"istio.io/dataplane-mode": "ambient"}
    assert m.mesh_of_namespace == {"default": "ambient"}
    assert one(objs, "Service", "reviews")["metadata"]["labels"]["istio.io/use-waypoint"] == "reviews-wp"
    assert m.waypoint_gateways == [] and by_kind(objs, "Gateway") == [gw]  # the policy's own, once


def test_a_use_waypoint_label_with_no_gateway_is_exported_as_is_and_warned_about():
    """As in the lab and in Istio: a label naming a waypoint nobody deployed is not followed
    ("ztunnel sends traffic straight to the destination"), so export invents no Gateway."""
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "reviews", "labels": {"istio.io/use-waypoint": "waypoint"}},
    }
    m = manifests("bookinfo", "ambient", [svc])
    assert m.waypoint_gateways == []
    assert (
        one(m.documents(), "Service", "reviews")["metadata"]["labels"]["istio.io/use-waypoint"] == "waypoint"
    )
    assert any("default/reviews uses waypoint 'waypoint', which no Gateway defines" in w for w in m.warnings)


def test_a_label_document_for_a_service_the_topology_lacks_is_refused():
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reveiws", "labels": {"a": "b"}}}
    with pytest.raises(ExportError, match="Service default/reveiws, which the topology does not have"):
        manifests("bookinfo", "ambient", [svc])


def test_a_policy_applied_twice_is_exported_once_the_later_one():
    a = docs(REVIEWS_50_V3)[0]
    b = copy.deepcopy(a)
    b["spec"]["http"][0]["route"][0]["weight"] = 80
    b["spec"]["http"][0]["route"][1]["weight"] = 20
    m = manifests("bookinfo", "sidecar", [a, docs(REVIEWS_SUBSETS)[0], b])
    assert [p["kind"] for p in m.policies] == ["DestinationRule", "VirtualService"]
    assert m.policies[1]["spec"]["http"][0]["route"][0]["weight"] == 80


def test_a_document_without_kind_or_name_is_refused():
    with pytest.raises(ExportError, match="policy document 2: needs apiVersion, kind and metadata.name"):
        manifests("bookinfo", "ambient", [docs(REVIEWS_50_V3)[0], {"kind": "VirtualService", "metadata": {}}])


def test_warnings_say_what_istio_will_do_with_the_routes():
    vs = docs(REVIEWS_50_V3)
    w = manifests("bookinfo", "ambient", vs).warnings
    assert len(w) == 2
    assert "subsets 'v1', 'v3' of reviews, which no DestinationRule defines" in w[0] and "IST0101" in w[0]
    assert "no waypoint carries the traffic to reviews" in w[1] and "--waypoints reviews" in w[1]
    assert manifests("bookinfo", "sidecar", docs(REVIEWS_SUBSETS) + vs).warnings == []
    assert manifests("bookinfo", "ambient", docs(REVIEWS_SUBSETS) + vs, waypoints="namespace").warnings == []


def test_an_httproute_for_an_ambient_service_with_no_waypoint_is_warned_about():
    """An HTTPRoute whose parentRefs name an ambient Service is L7 routing that only a waypoint
    applies (Istio's ambient docs bind it so): without one it has no effect, and export says so."""
    route = http_route("reviews", 9080, [(None, {"reviews-v1": 1, "reviews-v3": 1})])
    w = manifests("bookinfo-versions", "ambient", [route]).warnings
    assert len(w) == 1
    assert w[0].startswith("HTTPRoute default/reviews is L7 routing for reviews")
    assert "no waypoint carries the traffic to reviews" in w[0] and "--waypoints reviews" in w[0]
    assert manifests("bookinfo-versions", "ambient", [route], waypoints=["reviews"]).warnings == []
    assert manifests("bookinfo-versions", "sidecar", [route]).warnings == []


# -- writing ---------------------------------------------------------------------------------------


def test_export_writes_files_in_apply_order_that_read_back_as_the_same_objects(tmp_path):
    pol = docs(REVIEWS_SUBSETS) + docs(REVIEWS_50_V3)
    m = manifests("bookinfo", "ambient", pol, waypoints=["reviews"])
    written = export("bookinfo", "ambient", pol, tmp_path, waypoints=["reviews"])
    assert [p.name for p in written] == list(FILES)
    read = [d for p in written[:-1] for d in docs(p.read_text())]
    assert read == m.documents()
    for p in written[:-1]:
        assert p.read_text().startswith(MARKER)
    assert docs((tmp_path / "30-policies.yaml").read_text()) == m.policies  # apply(export(x)) sees x again


def test_a_second_export_replaces_the_first_and_leaves_no_stale_file(tmp_path):
    export("bookinfo", "ambient", docs(REVIEWS_50_V3), tmp_path, waypoints="namespace")
    assert (tmp_path / "20-waypoints.yaml").exists()
    written = export("bookinfo", "sidecar", (), tmp_path)
    assert (
        sorted(p.name for p in tmp_path.iterdir())
        == sorted(p.name for p in written)
        == ["00-namespaces.yaml", "10-apps.yaml", "README.md"]
    )


def test_export_refuses_a_directory_with_other_yaml(tmp_path):
    (tmp_path / "mine.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(ExportError, match="mine.yaml, which meshlab did not write"):
        export("bookinfo", "ambient", (), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]


def test_export_needs_an_out_dir():
    with pytest.raises(TypeError, match="needs out_dir"):
        export("bookinfo", "ambient")


def test_readme_gives_the_commands_for_ambient(tmp_path):
    export(
        "bookinfo",
        "ambient",
        docs(REVIEWS_SUBSETS) + docs(REVIEWS_50_V3),
        tmp_path,
        waypoints=["reviews"],
        command="meshlab export bookinfo --mode ambient",
    )
    r = (tmp_path / "README.md").read_text()
    for want in (
        "kind create cluster --config=- <<EOF",
        "meshlab/node: node-2",
        "kubernetes-sigs/gateway-api/releases/download/v1.4.0/standard-install.yaml",
        "istioctl install --set profile=ambient --skip-confirmation",
        "kubectl apply -f .",
        "kubectl wait --for=condition=Available deployment --all -n default",
        "kubectl wait --for=condition=Programmed gateway/waypoint -n default",
        "istioctl analyze -n default",
        "istioctl ztunnel-config workloads",
        "kubectl exec -n default deploy/client -c curl -- curl -sS -o /dev/null -w '%{http_code}\\n' "
        "http://productpage:9080/productpage",
        "grep -m1 -o 'reviews-v[0-9]'",
        "| reviews-v3 | `docker.io/istio/examples-bookinfo-reviews-v3:1.20.3` |",
        "Written by `meshlab export bookinfo --mode ambient`",
        "kind delete cluster --name meshlab",
    ):
        assert want in r, want
    assert "Before you apply" not in r


def test_readme_for_sidecar_uses_the_default_profile_and_says_what_to_expect(tmp_path):
    export("httpbin", "sidecar", (), tmp_path)
    r = (tmp_path / "README.md").read_text()
    assert "istioctl install --set profile=default" in r and "profile=ambient" not in r
    assert "`2/2` READY" in r
    assert "kubectl exec -n default deploy/client -c fortio -- fortio load -c 4 -qps 0 -n 200" in r
    assert "fortio curl -quiet http://httpbin:8000/get" in r


def test_readme_without_a_mesh_needs_no_istio_but_does_with_policies(tmp_path):
    export("minimal", "none", (), tmp_path / "a")
    assert "istioctl install" not in (tmp_path / "a" / "README.md").read_text()
    export("bookinfo", "none", docs(REVIEWS_SUBSETS), tmp_path / "b")
    r = (tmp_path / "b" / "README.md").read_text()
    assert "istioctl install --set profile=default" in r and "for its CRDs" in r


def test_readme_puts_warnings_first(tmp_path):
    export("bookinfo", "ambient", docs(REVIEWS_50_V3), tmp_path)
    r = (tmp_path / "README.md").read_text()
    assert r.index("Before you apply") < r.index("## 1. A cluster")
    assert "no waypoint carries the traffic to reviews" in r


# -- the command: meshlab export ... ---------------------------------------------------------------


def _docs(path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_export_bookinfo_ambient_with_the_traffic_shifting_virtualservice(tmp_path, capsys):
    """`meshlab export bookinfo --mode ambient --apply virtual-service-reviews-50-v3.yaml -o out/`
    writes what a Kubernetes user recognises from Istio's Bookinfo: the namespace enrolled in
    ambient, the four services on 9080, the six Deployments with Istio's images, and the
    VirtualService as written; it warns that the route needs its subsets and a waypoint."""
    vs = tmp_path / "virtual-service-reviews-50-v3.yaml"
    vs.write_text(REVIEWS_50_V3)
    out = tmp_path / "out"
    assert main(["export", "bookinfo", "--mode", "ambient", "--apply", str(vs), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [
        "00-namespaces.yaml",
        "10-apps.yaml",
        "30-policies.yaml",
        "README.md",
    ]
    assert str(out / "10-apps.yaml") in printed.out and "README.md" in printed.out
    objs = [d for f in ("00-namespaces.yaml", "10-apps.yaml", "30-policies.yaml") for d in _docs(out / f)]
    check_kubernetes_objects(objs)
    assert one(objs, "Namespace", "default")["metadata"]["labels"] == {"istio.io/dataplane-mode": "ambient"}
    assert {
        (s["metadata"]["name"], s["spec"]["ports"][0]["port"]) for s in objs if s["kind"] == "Service"
    } == {("productpage", 9080), ("details", 9080), ("reviews", 9080), ("ratings", 9080)}
    assert {d["metadata"]["name"] for d in objs if d["kind"] == "Deployment"} == {
        "productpage-v1",
        "details-v1",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
        "ratings-v1",
        "client",
    }
    expected = yaml.safe_load(REVIEWS_50_V3)
    expected["metadata"]["namespace"] = "default"
    assert _docs(out / "30-policies.yaml") == [expected]
    assert "meshlab: warning: VirtualService default/reviews routes to subsets 'v1', 'v3'" in printed.err
    assert "no waypoint carries the traffic to reviews" in printed.err
    readme = (out / "README.md").read_text()
    assert f"meshlab export bookinfo --mode ambient --apply {vs} -o {out}" in readme
    assert "istioctl install --set profile=ambient" in readme


def test_export_with_waypoints_and_two_files(tmp_path, capsys):
    (tmp_path / "dr.yaml").write_text(REVIEWS_SUBSETS)
    (tmp_path / "vs.yaml").write_text(REVIEWS_50_V3)
    out = tmp_path / "out"
    assert (
        main(
            [
                "export",
                "bookinfo",
                "--mode",
                "ambient",
                "--waypoints",
                "reviews",
                "--apply",
                str(tmp_path / "dr.yaml"),
                "--apply",
                str(tmp_path / "vs.yaml"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert "warning" not in capsys.readouterr().err
    [gw] = _docs(out / "20-waypoints.yaml")
    check_waypoint(gw)
    assert [d["kind"] for d in _docs(out / "30-policies.yaml")] == ["DestinationRule", "VirtualService"]
    reviews = one(_docs(out / "10-apps.yaml"), "Service", "reviews")
    assert reviews["metadata"]["labels"]["istio.io/use-waypoint"] == "waypoint"


def test_read_policy_files_skips_empty_documents_and_keeps_order(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("---\n" + REVIEWS_SUBSETS + "---\n---\n" + REVIEWS_50_V3)
    assert [d["kind"] for d in read_policy_files([f])] == ["DestinationRule", "VirtualService"]
    assert read_policy_files([]) == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("kind: A\n---\nkind: B\n---\nspec: [\n", "document 3, line 6: not valid YAML"),
        ("apiVersion: v1\nkind: [\n", "document 1, line 3: not valid YAML"),
        ("---\n- a\n- b\n", "document 1, line 2: expected a mapping"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
            "document 1, line 2: kind: kind Pod is not supported",
        ),
    ],
)
def test_read_policy_files_names_file_and_document(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(MeshlabError) as e:
        read_policy_files([f])
    assert str(e.value).startswith(f"{f}: {message}"), str(e.value)


def test_a_bad_file_is_one_clear_error_and_exit_code_2(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", "bookinfo", "--apply", str(tmp_path / "missing.yaml"), "-o", str(out)]) == 2
    assert f"meshlab: error: {tmp_path / 'missing.yaml'}: cannot read the file" in capsys.readouterr().err
    assert not out.exists()
    assert main(["export", "bookinfo", "--mode", "sidecar", "--waypoints", "reviews", "-o", str(out)]) == 2
    assert "service 'reviews' is not in an ambient namespace" in capsys.readouterr().err


def test_export_has_help_and_needs_an_output_directory():
    r = subprocess.run([sys.executable, "-m", "meshlab", "export", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--apply FILE" in r.stdout and "-o DIR" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "meshlab", "export", "bookinfo"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "the following arguments are required: -o/--out" in r.stderr
