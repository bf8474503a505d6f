"""The control panel's settings -> Istio YAML (meshlab/policy/builder.py): whatever the widgets
can say is valid Istio that the loader accepts, and means what the widgets said when the lab's
own route evaluation reads it back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from meshlab.policy import builder
from meshlab.policy.loader import load_policies
from meshlab.policy.routing import DEFAULT_RETRY, RequestInfo, route_request
from meshlab.policy.retries import RETRY_ON
from meshlab.topology import load_topology

BOOKINFO = load_topology("bookinfo")
SECONDS = st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0])

SETTINGS = st.builds(
    builder.RouteSettings,
    host=st.just("reviews"),
    attempts=st.one_of(st.none(), st.integers(0, 5)),
    per_try_timeout_s=st.one_of(st.none(), SECONDS),
    retry_on=st.lists(st.sampled_from(sorted(RETRY_ON)), unique=True, max_size=3).map(tuple),
    timeout_s=st.one_of(st.none(), SECONDS),
    delay_percent=st.sampled_from([0.0, 10.0, 50.0, 100.0]),
    delay_s=SECONDS,
    abort_percent=st.sampled_from([0.0, 5.0, 100.0]),
    abort_status=st.sampled_from([500, 503, 429]),
    weights=st.fixed_dictionaries(
        {
            "v1": st.sampled_from([0, 10, 50]),
            "v2": st.sampled_from([0, 40]),
            "v3": st.sampled_from([0, 50, 100]),
        }
    ),
)


@settings(max_examples=150, deadline=None)
@given(SETTINGS)
def test_whatever_the_panel_writes_is_istio_yaml_that_means_what_it_said(s):
    vs = builder.virtual_service(s)
    if s.is_default:
        assert vs is None  # nothing to say: Istio's defaults hold
        return
    [obj] = load_policies(vs)  # valid, by the lab's own loader
    action = route_request(obj, "reviews.default.svc.cluster.local", RequestInfo("GET", "/reviews/0"))
    assert action.delay == ((s.delay_s, s.delay_percent) if s.delay_percent else None)
    assert action.abort == ((s.abort_status, s.abort_percent) if s.abort_percent else None)
    assert action.timeout == (s.timeout_s or None)  # a fault leaves them be, as istiod does
    if s.attempts is None:
        assert action.retry == DEFAULT_RETRY
    else:
        assert action.retry.attempts == s.attempts
        if s.attempts and s.retry_on:
            assert set(s.retry_on) <= action.retry.retry_on
        if s.attempts and s.per_try_timeout_s:
            assert action.retry.per_try_timeout == s.per_try_timeout_s
    split = {d.subset: d.weight for d in action.destinations}
    assert split == ({k: v for k, v in s.weights.items() if v} if any(s.weights.values()) else {None: 100})


def test_the_subsets_come_from_the_pods_version_labels():
    assert builder.versions(BOOKINFO, "reviews") == {
        "v1": {"version": "v1"},
        "v2": {"version": "v2"},
        "v3": {"version": "v3"},
    }
    dr = builder.destination_rule("reviews", "default", builder.versions(BOOKINFO, "reviews"))
    [obj] = load_policies(dr)
    assert [s["name"] for s in obj.spec["subsets"]] == ["v1", "v2", "v3"]


@pytest.mark.parametrize("mode", ["PERMISSIVE", "STRICT", "DISABLE"])
def test_mesh_wide_peer_authentication(mode):
    [obj] = load_policies(builder.peer_authentication(mode))
    assert (obj.namespace, obj.spec) == ("istio-system", {"mtls": {"mode": mode}})


def test_unset_is_no_object_and_an_unknown_mode_says_the_allowed_ones():
    assert builder.peer_authentication("UNSET") is None
    with pytest.raises(ValueError, match="allowed: UNSET, PERMISSIVE, STRICT, DISABLE"):
        builder.peer_authentication("strict")
