"""Tests of the topology generator (meshlab/topology/generator.py): services x replicas x nodes as
Bookinfo shards, through the same validating loader as a topology file."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
import yaml
from hypothesis import given, strategies as st

from meshlab.errors import TopologyError
from meshlab.topology import GenSpec, generate, generate_dict, load_topology
from meshlab.topology.generator import LIMITS

# kept small: the loader's checks are services x pods, and Hypothesis runs many examples
specs = st.builds(GenSpec, services=st.integers(1, 24), replicas=st.integers(1, 8), nodes=st.integers(1, 10))


@given(specs)
def test_every_generated_topology_validates_with_the_counts_asked_for(spec):
    """The loader accepts it (every selector selects, every call resolves, names are unique),
    and it has the services, pods, nodes and shards asked for, with the client as its entry."""
    topo = load_topology(str(spec))
    assert len(topo.services) == spec.services
    assert len(topo.nodes) == spec.nodes
    assert len(topo.namespaces) == -(-spec.services // 4)
    assert len(topo.pods) == spec.services * spec.replicas + 1
    for svc in topo.services:
        assert len(topo.endpoints(svc)) == spec.replicas
    assert topo.entry.source == "client" and topo.pod("client").namespace == "bookinfo-1"


@given(specs)
def test_each_services_replicas_are_spread_evenly_over_the_nodes(spec):
    """As a topology spread constraint would place them: on each node, a service has the same
    number of pods as on any other, give or take one; so has the cluster as a whole."""
    topo = load_topology(str(spec))
    for svc in topo.services:
        per_node = Counter(p.node for p in topo.endpoints(svc))
        counts = [per_node.get(n.name, 0) for n in topo.nodes]
        assert max(counts) - min(counts) <= 1, (svc.name, svc.namespace, per_node)
    per_node = Counter(p.node for p in topo.pods if p.workload != "client")
    counts = [per_node.get(n.name, 0) for n in topo.nodes]
    assert max(counts) - min(counts) <= 1


@given(specs)
def test_the_spec_string_reads_back_as_the_same_spec(spec):
    assert GenSpec.parse(str(spec)) == spec


def test_a_shard_is_bookinfo_with_its_calls_versions_and_identities():
    """One full shard: productpage calls details then reviews with Bookinfo's own timeouts and
    retry; reviews' replicas take v1, v2, v3 in turn, v2 and v3 calling ratings; each app runs
    under its own service account, as in Istio's sample."""
    topo = generate(services=4, replicas=3, nodes=2)
    pp = next(p for p in topo.pods if p.labels["app"] == "productpage")
    assert [(c.service, c.path, c.timeout, c.retries) for c in pp.app.calls] == [
        ("details", "/details/0", 3.0, 0),
        ("reviews", "/reviews/0", 3.0, 1),
    ]
    reviews = sorted(
        (p.labels["version"], p.app.params.get("starColor"), [c.timeout for c in p.app.calls])
        for p in topo.pods
        if p.labels["app"] == "reviews"
    )
    assert reviews == [("v1", None, []), ("v2", "black", [10.0]), ("v3", "red", [2.5])]
    assert {p.service_account for p in topo.pods if p.labels["app"] != "client"} == {
        "bookinfo-productpage",
        "bookinfo-details",
        "bookinfo-reviews",
        "bookinfo-ratings",
    }
    assert topo.pod("client").service_account == "curl"


@pytest.mark.parametrize(
    "services, present",
    [(1, ["productpage"]), (2, ["productpage", "details"]), (3, ["productpage", "details", "reviews"])],
)
def test_a_partial_last_shard_stops_where_the_count_does(services, present):
    """With no ratings in its shard, reviews is v1 only and calls nothing; productpage calls
    only what its shard has."""
    topo = generate(services=4 + services, replicas=2, nodes=2)
    last = [s.name for s in topo.services if s.namespace == "bookinfo-2"]
    assert last == present
    pods = [p for p in topo.pods if p.namespace == "bookinfo-2"]
    assert {c.service for p in pods for c in p.app.calls} == set(present[1:]) & {"details", "reviews"}
    assert {p.labels["version"] for p in pods} == {"v1"}


def test_pods_are_named_by_service_version_shard_and_node():
    topo = generate(services=8, replicas=2, nodes=2)
    names = {p.name for p in topo.pods}
    assert {"productpage-v1-b1-n1-0", "productpage-v1-b1-n2-0", "reviews-v2-b2-n2-0", "client-0"} <= names


def test_the_200_pod_lab_of_the_benchmarks():
    topo = generate(services=20, replicas=10, nodes=4)
    assert len(topo.pods) == 201 and topo.name == "gen-s20-r10-n4"
    assert sorted(Counter(p.node for p in topo.pods).values()) == [50, 50, 50, 51]


def test_the_dict_is_what_a_topology_file_would_hold(tmp_path):
    """Written as YAML and loaded as a file, it is the same topology (``meshlab generate -o``)."""
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(generate_dict(services=6, replicas=2, nodes=3), sort_keys=False))
    assert replace(load_topology(path), source=None) == generate(services=6, replicas=2, nodes=3)


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        ({"services": 0}, "services", "expected a whole number from 1 to 400; got 0"),
        ({"replicas": 51}, "replicas", "expected a whole number from 1 to 50; got 51"),
        ({"nodes": 121}, "nodes", "expected a whole number from 1 to 120; got 121"),
        ({"nodes": 2.5}, "nodes", "expected a whole number from 1 to 120; got 2.5"),
        ({"services": True}, "services", "got True"),
        ({"replicas": "3"}, "replicas", "got '3'"),
    ],
)
def test_a_bad_argument_is_named_with_what_is_allowed(kwargs, field, message):
    with pytest.raises(TopologyError) as e:
        generate(**kwargs)
    assert e.value.field == field and message in str(e.value)


@pytest.mark.parametrize(
    "text, field, message",
    [
        (
            "gen:service=3",
            "service",
            "unknown setting 'service' (did you mean 'services'?); allowed: services, replicas, nodes",
        ),
        ("gen:nodes=x", "nodes", "expected nodes=<a whole number from 1 to 120>; got 'nodes=x'"),
        ("gen:nodes=+3", "nodes", "got 'nodes=+3'"),
        ("gen:replicas", "replicas", "expected replicas=<a whole number from 1 to 50>"),
        ("gen:nodes=2,nodes=3", "nodes", "nodes is given twice"),
        ("gen:services=401", "services", "expected a whole number from 1 to 400; got 401"),
    ],
)
def test_a_bad_spec_string_is_one_error_naming_the_setting(text, field, message):
    with pytest.raises(TopologyError) as e:
        load_topology(text)
    assert e.value.field == field and message in str(e.value) and e.value.file == text


def test_settings_left_out_take_their_defaults():
    assert GenSpec.parse("gen:") == GenSpec() == GenSpec.parse("gen:services=4")
    assert set(LIMITS) == {"services", "replicas", "nodes"}


def test_an_unknown_topology_name_mentions_the_generator():
    with pytest.raises(TopologyError, match="gen:services=20,replicas=10,nodes=4"):
        load_topology("no-such-topology")
