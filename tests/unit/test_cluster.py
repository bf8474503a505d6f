"""Tests of the cluster network as data (meshlab/net/cluster.py): its JSON form, and the net a
forked process inherits from the fork server instead of parsing its own copy."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from meshlab.net import cluster
from meshlab.net.cluster import ClusterNet, PodAddr, ServiceAddr


def _net(n_pods: int = 3) -> ClusterNet:
    pods = tuple(
        PodAddr(
            f"p-{i}",
            "default",
            "node-1",
            f"127.9.1.{i + 2}",
            {"app": "p"},
            "sa",
            (8080,),
            local_ip=f"127.9.129.{i + 2}",
            mesh="sidecar",
        )
        for i in range(n_pods)
    )
    return ClusterNet(
        pods=pods,
        services=(ServiceAddr("p", "default", "127.9.250.1", 80, 8080, tuple(p.name for p in pods)),),
        nodes={"node-1": "127.9.1.1"},
    )


def test_to_dict_is_what_asdict_gives_and_round_trips():
    net = _net()
    assert json.dumps(net.to_dict(), sort_keys=True) == json.dumps(asdict(net), sort_keys=True)
    assert ClusterNet.from_dict(json.loads(json.dumps(net.to_dict()))) == net


def test_to_dict_leaves_out_cached_lookups():
    """A service's fqdn is cached on the object once looked up: not a field, not in the dict."""
    net = _net()
    net.service_by_fqdn("p.default.svc.cluster.local")
    assert "fqdn" not in net.to_dict()["services"][0]
    assert ClusterNet.from_dict(net.to_dict()) == net


def test_the_key_names_the_content():
    a, b = _net(), _net()
    assert a.key == b.key
    assert replace(a, pods=a.pods[:2]).key != a.key
    assert replace(a, pods=(replace(a.pods[0], mesh="ambient"), *a.pods[1:])).key != a.key


def test_an_inherited_net_is_the_one_handed_down(monkeypatch):
    monkeypatch.setattr(cluster, "_INHERITED", {})
    net = _net()
    cluster.inherit(net.key, net)
    assert ClusterNet.from_dict({"inherited": net.key}) is net
    newer = _net(4)
    cluster.inherit(newer.key, newer)  # only the newest is kept
    assert ClusterNet.from_dict({"inherited": newer.key}) is newer
    with pytest.raises(LookupError, match=f"no cluster network '{net.key}' was handed down"):
        ClusterNet.from_dict({"inherited": net.key})
