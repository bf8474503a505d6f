"""Tests of the topology loader (meshlab/topology/loader.py) and model (meshlab/topology/model.py).

Every error case is a small file in tests/fixtures/topologies/ named ``<case>_error.yaml``; the table
ERROR_CASES says which line and field path the resulting TopologyError must name, and which
substrings its message must contain (the culprit and what is allowed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshlab.errors import TopologyError
from meshlab.topology import (
    APP_KINDS,
    Links,
    Topology,
    find_topology_file,
    load_topology,
    parse_topology,
    topology_files,
)
from meshlab.topology.graph import topology_graph

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "topologies"

DURATIONS = "a number followed by one of us, ms, s, m, h (for example 3s, 0.5s, 250ms)"
TOP_KEYS = "name, nodes, namespaces, services, workloads, description, entry, links"

# case -> (line, field, substrings of str(err))
ERROR_CASES: dict[str, tuple[int | None, str | None, tuple[str, ...]]] = {
    # -- the file as a whole ----------------------------------------------------------------------
    "bad_yaml": (2, None, ("not valid YAML: mapping values are not allowed here",)),
    "deep_nesting": (3, None, ("not valid YAML: nested more than 64 levels deep",)),
    "nul_byte": (
        5,
        None,
        ("not valid YAML: unacceptable character #x0000 (column 7): special characters are not allowed",),
    ),
    "two_documents": (1, None, ("expected exactly one YAML document; found 2",)),
    "empty_file": (1, None, ("expected exactly one YAML document; found 0",)),
    "non_utf8": (None, None, ("cannot read the file", "utf-8")),
    "not_a_mapping": (2, None, (f"expected a mapping with keys {TOP_KEYS}; got a list",)),
    "unknown_tag": (
        9,
        "workloads[0].replicas",
        (
            "could not determine a constructor for the tag '!replicas'",
            "write a plain YAML value (tags such as !foo and merge keys << are not supported)",
        ),
    ),
    "merge_key": (11, "workloads[1]", ("cannot read this value", "merge keys << are not supported")),
    # -- keys -------------------------------------------------------------------------------------
    "unknown_top_key": (
        6,
        "workload",
        ("unknown key 'workload' (did you mean 'workloads'?)", f"allowed keys: {TOP_KEYS}"),
    ),
    "unknown_workload_key": (
        9,
        "workloads[0].image",
        (
            "unknown key 'image'",
            "allowed keys: name, node, app, namespace, serviceAccount, labels, replicas, ports",
        ),
    ),
    "duplicate_key": (9, "workloads[0].node", ("duplicate key 'node' (also on line 8)",)),
    "missing_required_key": (
        7,
        "workloads[0]",
        ("missing required key 'node'; required keys: name, node, app",),
    ),
    "missing_top_key": (
        3,
        None,
        ("missing required key 'services'", "required keys: name, nodes, namespaces, services, workloads"),
    ),
    "non_string_key": (9, "workloads[0].labels", ("keys must be strings; got 8080",)),
    # -- scalar types and ranges ------------------------------------------------------------------
    "wrong_type_replicas": (
        9,
        "workloads[0].replicas",
        ("expected an integer from 1 to 50; got a string ('two')",),
    ),
    "replicas_out_of_range": (9, "workloads[0].replicas", ("0 is out of range; allowed: 1 to 50",)),
    "port_out_of_range": (7, "services[0].port", ("80800 is out of range; allowed: 1 to 65535",)),
    "port_as_string": (
        7,
        "services[0].port",
        ("expected an integer from 1 to 65535; got a string ('8080')",),
    ),
    "retries_out_of_range": (
        16,
        "workloads[1].app.calls[0].retries",
        ("11 is out of range; allowed: 0 to 10",),
    ),
    "null_value": (3, "nodes", ("expected a list; got nothing (null)",)),
    "empty_nodes": (3, "nodes", ("expected a non-empty list",)),
    "description_not_string": (4, "description", ("expected a string; got a list",)),
    "bad_duration": (
        11,
        "workloads[0].app.serviceTime",
        (f"expected a duration with a unit, {DURATIONS}", "got the bare number 5"),
    ),
    "bad_duration_unit": (14, "workloads[1].app.calls[0].timeout", (DURATIONS, "got '3 sec'")),
    "duration_mapping": (
        11,
        "workloads[0].app.serviceTime",
        (f"expected a duration, {DURATIONS}; got a mapping",),
    ),
    # -- names and labels -------------------------------------------------------------------------
    "bad_name": (
        7,
        "workloads[0].name",
        ("'Reviews_V1' is not a valid name", "at most 63 lower-case letters", "DNS-1123"),
    ),
    "name_too_long": (4, "nodes[0].name", ("'n1234567890", "is not a valid name: use at most 63")),
    "numeric_label_value": (
        11,
        "workloads[0].labels.version",
        ('label values must be strings; quote it: "1"',),
    ),
    "bad_label_key": (5, "nodes[0].labels.my zone", ("'my zone' is not a valid label key",)),
    "bad_label_value": (
        6,
        "namespaces[0].labels.team",
        ("'the mesh team' is not a valid label value", "letters, digits, '-', '_', '.'"),
    ),
    "pod_use_waypoint": (
        9,
        "workloads[0].labels.istio.io/use-waypoint",
        (
            "a pod-level istio.io/use-waypoint is not supported by meshlab",
            "traffic addressed to the pod itself",
            "put istio.io/use-waypoint on the pod's Service or namespace",
        ),
    ),
    "use_waypoint_namespace": (
        6,
        "namespaces[0].labels.istio.io/use-waypoint-namespace",
        ("istio.io/use-waypoint-namespace: 'infra' is not supported by meshlab", "allowed: 'default'"),
    ),
    # -- app --------------------------------------------------------------------------------------
    "bad_app_kind": (
        10,
        "workloads[0].app.kind",
        (
            "'productpages' is not allowed (did you mean 'productpage'?)",
            "allowed values: productpage, details, reviews, ratings, httpbin, client",
        ),
    ),
    "bad_star_color": (
        11,
        "workloads[0].app.starColor",
        ("'blue' is not allowed", "allowed values: black, red"),
    ),
    "star_color_wrong_kind": (
        9,
        "workloads[0].app.starColor",
        ("starColor applies only to kind reviews, not 'ratings'",),
    ),
    "bad_variant": (
        11,
        "workloads[0].app.variant",
        ("'slow' is not allowed", "allowed values: normal, faulty, delayed, unavailable, unhealthy"),
    ),
    "variant_wrong_kind": (
        9,
        "workloads[0].app.variant",
        ("variant applies only to kind ratings, not 'details'",),
    ),
    "reviews_calls_without_star_color": (
        13,
        "workloads[1].app",
        ("a reviews app that calls ratings needs starColor (black as in v2, red as in v3)",),
    ),
    "call_path_no_slash": (14, "workloads[1].app.calls[0].path", ("a path starts with '/'; got 'get'",)),
    # -- links ------------------------------------------------------------------------------------
    "link_loss_out_of_range": (5, "links.loss_pct", ("150 is out of range; allowed: 0 to 100",)),
    "link_unknown_key": (
        6,
        "nodes[1].links.delay",
        (
            "unknown key 'delay' (did you mean 'delay_ms'?)",
            "allowed keys: bandwidth_mbit, delay_ms, loss_pct",
        ),
    ),
    "link_bandwidth_string": (
        4,
        "links.bandwidth_mbit",
        ("expected a number from 0.1 to 1000; got a string ('10mbit')",),
    ),
    # -- references between sections -------------------------------------------------------------
    "unknown_node": (10, "workloads[0].node", ("unknown node 'node-3'", "nodes: node-1, node-2")),
    "unknown_namespace": (
        8,
        "workloads[0].namespace",
        ("unknown namespace 'bookinfo'; namespaces: default",),
    ),
    "service_unknown_namespace": (
        6,
        "services[0].namespace",
        ("unknown namespace 'prod'; namespaces: default",),
    ),
    "unknown_service_account": (
        11,
        "workloads[0].serviceAccount",
        (
            "unknown service account 'curl' in namespace 'default'",
            "declared there: default, client",
            "add it under namespaces[].serviceAccounts",
        ),
    ),
    "unknown_call_service": (
        17,
        "workloads[1].app.calls[0].service",
        ("unknown service 'ratngs' (did you mean 'ratings'?); services: ratings",),
    ),
    "call_port_mismatch": (
        15,
        "workloads[1].app.calls[0].port",
        ("service 'httpbin' has port 8000, not 8080",),
    ),
    "unknown_entry_from": (11, "entry.from", ("unknown workload 'curl'", "workloads: client, server")),
    "entry_url_not_http": (12, "entry.url", ("expected an http:// URL; got 'https://server:8080/get'",)),
    # -- duplicates -------------------------------------------------------------------------------
    "duplicate_node": (5, "nodes[1].name", ("duplicate node name 'node-1' (first defined on line 4)",)),
    "duplicate_namespace": (
        6,
        "namespaces[1].name",
        ("duplicate namespace name 'default' (first defined on line 5)",),
    ),
    "duplicate_service_account": (
        6,
        "namespaces[0].serviceAccounts[1]",
        ("duplicate service account 'client'",),
    ),
    "duplicate_workload": (
        10,
        "workloads[1].name",
        ("duplicate workload name 'default/client' (first defined on line 7)",),
    ),
    "duplicate_service": (
        7,
        "services[1].name",
        ("duplicate service name 'default/server' (first defined on line 6)",),
    ),
    "pod_name_clash": (
        13,
        "workloads[1].name",
        (
            "pod name 'client-0' of workload 'team-a/client' clashes with a pod of workload 'default/client'",
            "rename one of the workloads",
        ),
    ),
    # -- services and their endpoints -------------------------------------------------------------
    "empty_selector": (8, "services[0].selector", ("a service needs a non-empty selector",)),
    "service_selects_nothing": (
        9,
        "services[0].selector",
        (
            "service 'reviews' selects no pod: no workload in namespace 'default' has labels {'app': 'reviews'}",
        ),
    ),
    "target_port_not_listened": (
        6,
        "services[0].port",
        ("service 'httpbin' sends to port 8000, but pod 'httpbin-0' listens on 8080",),
    ),
    "target_port_client": (
        6,
        "services[0].targetPort",
        ("service 'client' sends to port 8080, but pod 'client-0' listens on no port",),
    ),
}


def _load_error(path: Path) -> TopologyError:
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    return info.value


# ------------------------------------------------------------------------------------------------
# error fixtures
# ------------------------------------------------------------------------------------------------


def test_every_error_fixture_has_an_expectation():
    """Each *_error.yaml fixture on disk is listed in ERROR_CASES and each listed case has a file,
    so a new fixture cannot silently go untested."""
    on_disk = {p.name[: -len("_error.yaml")] for p in FIXTURES.glob("*_error.yaml")}
    assert on_disk == set(ERROR_CASES)


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_fixture_names_file_line_field_and_what_is_allowed(case):
    """Loading a broken topology file raises one TopologyError that names the file, the line, the
    field path, the culprit and what is allowed, and the message starts with file:line: field."""
    line, field, substrings = ERROR_CASES[case]
    path = FIXTURES / f"{case}_error.yaml"
    err = _load_error(path)
    assert err.file == str(path)
    assert err.line == line
    assert err.field == field
    message = str(err)
    for s in substrings:
        assert s in message
    prefix = str(path) + (f":{line}" if line is not None else "") + (f": {field}" if field else "") + ": "
    assert message.startswith(prefix)
    assert err.reason == message[len(prefix) :]


@pytest.mark.parametrize("case", sorted(set(ERROR_CASES) - {"non_utf8"}))
def test_error_from_text_matches_error_from_file(case):
    """Parsing the same YAML text with parse_topology gives the same line, field and reason as
    loading the file, with the file name given by the caller."""
    path = FIXTURES / f"{case}_error.yaml"
    from_file = _load_error(path)
    with pytest.raises(TopologyError) as info:
        parse_topology(path.read_text(encoding="utf-8"), file="inline.yaml")
    err = info.value
    assert (err.file, err.line, err.field, err.reason) == (
        "inline.yaml",
        from_file.line,
        from_file.field,
        from_file.reason,
    )


def test_topology_error_is_a_value_error():
    """Callers that catch ValueError also catch topology errors."""
    assert issubclass(TopologyError, ValueError)


# ------------------------------------------------------------------------------------------------
# the shipped topologies
# ------------------------------------------------------------------------------------------------


def test_shipped_topologies_load_by_name():
    """topologies/ ships bookinfo (also split over two namespaces, and with a Service per reviews
    version), httpbin, minimal and mtls-migration, and each one loads by name."""
    assert [p.stem for p in topology_files()] == [
        "bookinfo",
        "bookinfo-two-namespaces",
        "bookinfo-versions",
        "httpbin",
        "minimal",
        "mtls-migration",
    ]
    for p in topology_files():
        topo = load_topology(p.stem)
        assert isinstance(topo, Topology)
        assert topo.name == p.stem
        assert topo.source == str(p)
        assert topo.description


@pytest.fixture(scope="module")
def bookinfo() -> Topology:
    return load_topology("bookinfo")


def test_bookinfo_nodes_namespace_and_service_accounts(bookinfo):
    """Bookinfo runs on two nodes in namespace default, which has the default service account plus
    bookinfo-productpage/-details/-reviews/-ratings and curl for the client."""
    assert [n.name for n in bookinfo.nodes] == ["node-1", "node-2"]
    assert [ns.name for ns in bookinfo.namespaces] == ["default"]
    assert bookinfo.namespace("default").service_accounts == (
        "default",
        "bookinfo-productpage",
        "bookinfo-details",
        "bookinfo-reviews",
        "bookinfo-ratings",
        "curl",
    )


def test_bookinfo_services_all_on_port_9080(bookinfo):
    """Bookinfo's four services productpage, details, reviews and ratings all listen on 9080 and
    forward to 9080, selecting pods by their app label."""
    assert [s.name for s in bookinfo.services] == ["productpage", "details", "reviews", "ratings"]
    for s in bookinfo.services:
        assert (s.namespace, s.port, s.target_port, s.port_name) == ("default", 9080, 9080, "http")
        assert dict(s.selector) == {"app": s.name}
        assert s.fqdn == f"{s.name}.default.svc.cluster.local"


def test_bookinfo_workloads_and_pods(bookinfo):
    """Bookinfo has productpage, details, three reviews versions, ratings and a client workload,
    one pod each, and reviews v1/v2/v3 share the bookinfo-reviews service account."""
    assert [w.name for w in bookinfo.workloads] == [
        "productpage-v1",
        "details-v1",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
        "ratings-v1",
        "client",
    ]
    assert [p.name for p in bookinfo.pods] == [
        "productpage-v1-0",
        "details-v1-0",
        "reviews-v1-0",
        "reviews-v2-0",
        "reviews-v3-0",
        "ratings-v1-0",
        "client-0",
    ]
    reviews = [w for w in bookinfo.workloads if w.app.kind == "reviews"]
    assert [w.labels["version"] for w in reviews] == ["v1", "v2", "v3"]
    assert {w.service_account for w in reviews} == {"bookinfo-reviews"}
    assert [p.name for p in bookinfo.endpoints(bookinfo.service("reviews"))] == [
        "reviews-v1-0",
        "reviews-v2-0",
        "reviews-v3-0",
    ]
    client = bookinfo.pod("client")
    assert (client.app.kind, client.ports, client.service_account) == ("client", (), "curl")
    assert client.spiffe_id == "spiffe://cluster.local/ns/default/sa/curl"
    assert bookinfo.pod("productpage-v1").ports == (9080,)
    assert bookinfo.entry.source == "client"
    assert bookinfo.entry.url == "http://productpage:9080/productpage"


def test_bookinfo_calls_carry_bookinfos_own_timeouts_and_retries(bookinfo):
    """productpage calls details (3 s, no retry) and reviews (3 s, 1 retry); reviews-v1 calls
    nothing; reviews-v2 calls ratings with a 10 s timeout and black stars; reviews-v3 calls ratings
    with a 2.5 s timeout and red stars. Ports default to the service's port, 9080."""
    pp = bookinfo.pod("productpage-v1").app.calls
    assert [(c.service, c.port, c.path, c.timeout, c.retries) for c in pp] == [
        ("details", 9080, "/details/0", 3.0, 0),
        ("reviews", 9080, "/reviews/0", 3.0, 1),
    ]
    assert pp[1].url() == "http://reviews:9080/reviews/0"
    v1, v2, v3 = (bookinfo.pod(f"reviews-{v}").app for v in ("v1", "v2", "v3"))
    assert v1.calls == ()
    assert "starColor" not in v1.params
    assert [(c.service, c.port, c.timeout, c.retries) for c in v2.calls] == [("ratings", 9080, 10.0, 0)]
    assert v2.params["starColor"] == "black"
    assert [(c.service, c.port, c.timeout, c.retries) for c in v3.calls] == [("ratings", 9080, 2.5, 0)]
    assert v3.params["starColor"] == "red"
    assert all(
        w.app.service_time == pytest.approx(0.001) for w in bookinfo.workloads if w.app.kind != "client"
    )


def test_bookinfo_graph_edges(bookinfo):
    """The networkx graph of bookinfo: productpage's pod calls the details and reviews services,
    reviews selects its three pods, reviews v2 and v3 call ratings, and every pod runs on its node."""
    g = topology_graph(bookinfo)

    def edges(kind):
        return {(u, v) for u, v, k in g.edges(data="kind") if k == kind}

    assert edges("calls") == {
        ("pod:productpage-v1-0", "svc:default/details"),
        ("pod:productpage-v1-0", "svc:default/reviews"),
        ("pod:reviews-v2-0", "svc:default/ratings"),
        ("pod:reviews-v3-0", "svc:default/ratings"),
    }
    assert {v for u, v in edges("selects") if u == "svc:default/reviews"} == {
        "pod:reviews-v1-0",
        "pod:reviews-v2-0",
        "pod:reviews-v3-0",
    }
    assert len(edges("selects")) == 6
    assert ("pod:reviews-v3-0", "node:node-2") in edges("runs-on")
    assert ("pod:productpage-v1-0", "node:node-1") in edges("runs-on")
    assert len(edges("runs-on")) == len(bookinfo.pods)
    assert g.edges["pod:productpage-v1-0", "svc:default/reviews"]["timeout"] == 3.0
    assert g.edges["pod:productpage-v1-0", "svc:default/reviews"]["retries"] == 1
    assert g.nodes["svc:default/reviews"]["port"] == 9080
    assert g.graph["name"] == "bookinfo"


def test_httpbin_topology():
    """httpbin: service httpbin on port 8000 forwarding to 8080 on two httpbin pods, and a client."""
    topo = load_topology("httpbin")
    svc = topo.service("httpbin")
    assert (svc.port, svc.target_port) == (8000, 8080)
    assert [p.name for p in topo.endpoints(svc)] == ["httpbin-0", "httpbin-1"]
    assert all(p.ports == (APP_KINDS["httpbin"],) == (8080,) for p in topo.endpoints(svc))
    assert topo.pod("client").app.kind == "client"
    assert topo.entry.url == "http://httpbin:8000/get"


def test_minimal_topology_has_a_client_and_a_server_on_different_nodes():
    """minimal: exactly one client and one server, each on its own node."""
    topo = load_topology("minimal")
    assert [w.app.kind for w in topo.workloads] == ["client", "httpbin"]
    client, server = topo.pod("client"), topo.pod("server")
    assert client.node != server.node
    assert {client.node, server.node} == {n.name for n in topo.nodes}
    assert [p.name for p in topo.endpoints(topo.service("server"))] == ["server-0"]


# ------------------------------------------------------------------------------------------------
# valid fixtures
# ------------------------------------------------------------------------------------------------


def test_valid_minimal_fixture():
    """The smallest valid fixture loads: a client whose call to server gets the service's port."""
    topo = load_topology(FIXTURES / "valid_minimal.yaml")
    assert topo.name == "tiny"
    assert topo.description == ""
    assert topo.pod("client").app.calls[0].url() == "http://server:8000/get"
    assert topo.pod("client").app.calls[0].timeout is None
    assert topo.workloads[0].namespace == "default"
    assert topo.workloads[0].service_account == "default"
    assert dict(topo.workloads[0].labels) == {"app": "client"}
    assert topo.links is None and not topo.node_links("node-2")  # no shaping unless asked


def test_valid_full_fixture_uses_every_optional_field():
    """A fixture using every optional field loads: replicas become pods web-0 and web-1 next to
    web-1-0 without a clash, explicit ports and portName are kept, calls across namespaces and by
    FQDN resolve, durations in us/ms/s are parsed, and the entry and labels come through."""
    topo = load_topology(FIXTURES / "valid_full.yaml")
    assert [p.name for p in topo.pods] == ["web-0", "web-1", "web-1-0", "ratings-v1-0", "client-0"]
    assert dict(topo.nodes[0].labels) == {"topology.kubernetes.io/zone": "zone-a"}
    assert topo.namespace("backend").service_accounts == ("default", "ratings")
    assert dict(topo.namespace("default").labels) == {"istio.io/dataplane-mode": "ambient"}
    web = topo.service("web")
    assert (web.port, web.target_port, web.port_name) == (80, 9080, "http-web")
    assert [p.name for p in topo.endpoints(web)] == ["web-0", "web-1"]
    assert topo.pod("web-1").workload == "web"
    assert topo.pod("web-1-0").workload == "web-1"
    assert topo.pod("web-0").ports == (9080, 15000)
    assert topo.pod("web-0").app.service_time == pytest.approx(250e-6)
    calls = topo.pod("web-0").app.calls
    assert [(c.service, c.port, c.timeout, c.retries) for c in calls] == [
        ("ratings.backend", 9080, 0.5, 2),
        ("ratings.backend.svc.cluster.local", 9080, None, 0),
    ]
    assert topo.resolve_service("ratings", "default") is None
    assert topo.resolve_service("ratings", "backend") is topo.service("ratings")
    ratings = topo.pod("ratings-v1")
    assert ratings.namespace == "backend"
    assert ratings.app.params["variant"] == "delayed"
    assert ratings.app.service_time == 1.5
    assert dict(topo.workloads[1].labels) == {"app": "other"}
    assert topo.entry.source == "client"
    assert topo.links == Links(bandwidth_mbit=100.0)
    assert topo.node_links("node-1") == Links(bandwidth_mbit=100.0)
    assert topo.node_links("node-2") == Links(bandwidth_mbit=100.0, delay_ms=20.0, loss_pct=0.5)
    assert topo.node_links("node-2").describe() == "100 Mbit/s, 20 ms delay, 0.5% loss"
    g = topology_graph(topo)
    assert g.has_edge("pod:web-0", "svc:backend/ratings")


def test_loaded_topology_is_frozen():
    """A loaded topology cannot be changed: dataclasses are frozen and labels are read-only."""
    topo = load_topology("minimal")
    with pytest.raises(AttributeError):
        topo.name = "other"
    with pytest.raises(TypeError):
        topo.workloads[0].labels["app"] = "x"


# ------------------------------------------------------------------------------------------------
# finding files, and other sources
# ------------------------------------------------------------------------------------------------


def test_unknown_topology_name_lists_the_shipped_ones():
    """load_topology("nope") says the name is unknown and lists the shipped topologies."""
    with pytest.raises(TopologyError) as info:
        load_topology("nope")
    err = info.value
    assert (err.file, err.line, err.field) == ("nope", None, None)
    assert "unknown topology 'nope'" in str(err)
    assert (
        "shipped topologies: bookinfo, bookinfo-two-namespaces, bookinfo-versions, httpbin, minimal, mtls-migration, "
        "or give a path to a .yaml file" in str(err)
    )


def test_misspelled_topology_name_suggests_the_close_one():
    """A near miss such as "bookinf" is answered with "did you mean 'bookinfo'?"."""
    with pytest.raises(TopologyError, match=r"did you mean 'bookinfo'\?"):
        load_topology("bookinf")


def test_missing_yaml_file_lists_the_shipped_ones(tmp_path):
    """A path to a .yaml file that does not exist is reported as such, naming the file."""
    path = tmp_path / "gone.yaml"
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    assert info.value.file == str(path)
    assert (
        "no such file; shipped topologies: bookinfo, bookinfo-two-namespaces, bookinfo-versions, httpbin, "
        "minimal" in str(info.value)
    )


def test_find_topology_file_by_name_and_by_path():
    """A shipped name maps to topologies/<name>.yaml; an existing path is taken as it is."""
    assert find_topology_file("httpbin") == topology_files()[3]
    path = FIXTURES / "valid_minimal.yaml"
    assert find_topology_file(path) == path
    assert find_topology_file(str(path)) == path


def test_load_from_string_path():
    """A path given as a string loads the same as a Path, and the topology remembers its source."""
    path = FIXTURES / "valid_minimal.yaml"
    assert load_topology(str(path)) == load_topology(path)
    assert load_topology(str(path)).source == str(path)


def test_topology_passes_through():
    """Giving load_topology an already loaded Topology returns that same object."""
    topo = load_topology("minimal")
    assert load_topology(topo) is topo


def _minimal_dict() -> dict:
    return {
        "name": "from-dict",
        "nodes": [{"name": "node-1"}, {"name": "node-2"}],
        "namespaces": [{"name": "default", "serviceAccounts": ["client"]}],
        "services": [{"name": "server", "port": 8000, "targetPort": 8080, "selector": {"app": "server"}}],
        "workloads": [
            {
                "name": "client",
                "node": "node-1",
                "serviceAccount": "client",
                "app": {"kind": "client", "calls": [{"service": "server", "path": "/get", "timeout": "2s"}]},
            },
            {"name": "server", "node": "node-2", "app": {"kind": "httpbin"}},
        ],
    }


def test_load_from_dict():
    """A topology given as a Python dict loads like a file, with no source file."""
    topo = load_topology(_minimal_dict())
    assert topo.name == "from-dict"
    assert topo.source is None
    assert topo.entry is None
    assert topo.pod("client").app.calls[0].timeout == 2.0
    assert [p.name for p in topo.endpoints(topo.service("server"))] == ["server-0"]


def test_dict_matches_equivalent_yaml_file():
    """The shipped minimal topology, rebuilt as a dict, loads to the same model apart from source."""
    import dataclasses

    import yaml

    from_file = load_topology("minimal")
    from_dict = load_topology(yaml.safe_load(find_topology_file("minimal").read_text()))
    assert from_dict == dataclasses.replace(from_file, source=None)


@pytest.mark.parametrize(
    "mutate, field, substring",
    [
        (lambda d: d["workloads"][1].update(node="node-9"), "workloads[1].node", "unknown node 'node-9'"),
        (lambda d: d["services"][0].update(port="8000"), "services[0].port", "got a string ('8000')"),
        (lambda d: d.update(extra=1), "extra", "unknown key 'extra'"),
        (
            lambda d: d["nodes"].append({"name": "node-1"}),
            "nodes[2].name",
            "duplicate node name 'node-1' (first defined at nodes[0].name)",
        ),
        (
            lambda d: d["workloads"][0]["app"]["calls"][0].update(timeout=2),
            "workloads[0].app.calls[0].timeout",
            "got the bare number 2",
        ),
    ],
    ids=["unknown-node", "port-as-string", "unknown-top-key", "duplicate-node", "bare-number-timeout"],
)
def test_errors_from_a_dict_have_no_line(mutate, field, substring):
    """An invalid dict raises a TopologyError with file <dict>, no line number, and the field path;
    a message never mentions "line None"."""
    d = _minimal_dict()
    mutate(d)
    with pytest.raises(TopologyError) as info:
        load_topology(d)
    err = info.value
    assert (err.file, err.line, err.field) == ("<dict>", None, field)
    assert substring in str(err)
    assert "None" not in str(err)
    assert str(err).startswith(f"<dict>: {field}: ")


def test_dict_with_a_value_yaml_cannot_hold():
    """A dict holding something YAML cannot represent (an arbitrary object) raises a TopologyError
    naming the value and the allowed types, not a PyYAML RepresenterError."""
    d = _minimal_dict()
    d["description"] = object()
    with pytest.raises(TopologyError) as info:
        load_topology(d)
    assert info.value.file == "<dict>"
    assert "cannot represent <object object" in str(info.value)
    assert "use only dicts, lists, strings, numbers, true/false and None" in str(info.value)


@pytest.mark.parametrize("style", ["block", "flow"])
def test_nesting_deeper_than_any_topology_is_an_error_naming_the_line_not_a_recursion_error(style):
    """Issue 13, defect 6: a YAML nested thousands of levels deep crashed the loader with a bare
    RecursionError (3,000 lines of traceback from the CLI). It is a TopologyError naming the
    line where the nesting goes too deep, whatever the style, and a dict gets one too."""
    deep = (
        "name: x\nnodes:\n" + "".join("  " * i + "-\n" for i in range(1, 3000))
        if style == "block"
        else "name: x\nnodes: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"
    )
    with pytest.raises(TopologyError) as info:
        parse_topology(deep, file="deep.yaml")
    assert "nested more than 64 levels deep" in str(info.value)
    assert info.value.line == (66 if style == "block" else 2)
    d: dict = {}
    for _ in range(3000):
        d = {"a": d}
    with pytest.raises(TopologyError) as info:
        load_topology({**_minimal_dict(), "description": d})
    assert info.value.file == "<dict>" and "nested" in str(info.value)


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("name: x\nnodes:\n  - name: n1\n    \x00bad: 1\n", 4, "unacceptable character #x0000 (column 5)"),
        ("name: x: y\nnodes: [\x00]\n", 1, "mapping values are not allowed here"),  # the first problem first
        ("name: x\x7f\n", 1, "unacceptable character #x007f (column 8)"),
    ],
)
def test_a_character_yaml_refuses_is_reported_by_line_and_column(text, line, words):
    with pytest.raises(TopologyError) as info:
        parse_topology(text, file="t.yaml")
    assert info.value.line == line and words in str(info.value) and "position" not in str(info.value)


def test_parse_topology_default_file_name():
    """parse_topology without a file name reports errors against <string>, with line numbers."""
    with pytest.raises(TopologyError) as info:
        parse_topology("name: x\n")
    assert (info.value.file, info.value.line) == ("<string>", 1)
    assert str(info.value).startswith("<string>:1: missing required key 'nodes'")


def test_bookinfo_versions_is_bookinfo_plus_one_service_per_reviews_version(bookinfo):
    """``bookinfo-versions`` is Bookinfo as Istio's ambient getting-started deploys it: the same
    nodes, namespaces and workloads, and bookinfo-versions.yaml's reviews-v1, -v2 and -v3 Services,
    each selecting one version's pods (so an HTTPRoute can name a version as a backend)."""
    versions = load_topology("bookinfo-versions")
    assert (versions.nodes, versions.namespaces, versions.workloads, versions.pods) == (
        bookinfo.nodes,
        bookinfo.namespaces,
        bookinfo.workloads,
        bookinfo.pods,
    )
    assert versions.services[:4] == bookinfo.services
    extra = versions.services[4:]
    assert [s.name for s in extra] == ["reviews-v1", "reviews-v2", "reviews-v3"]
    for s in extra:
        assert (s.port, dict(s.selector)) == (9080, {"app": "reviews", "version": s.name[-2:]})
        assert [p.name for p in versions.pods if s.selects(p)] == [f"{s.name}-0"]
