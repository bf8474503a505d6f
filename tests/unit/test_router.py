"""The L7 router's attempt timing, without sockets: a fake upstream that takes its time to
connect and to answer, and Envoy's timers (perTryTimeout from the connection on, connectTimeout
up to it)."""

import asyncio
import random

from meshlab.net.http1 import Request, Response
from meshlab.policy.routing import Destination, RouteAction, TrafficPolicy
from meshlab.policy.retries import RetryPolicy
from meshlab.proxy.router import L7Router
from meshlab.proxy.router_plan import Plan, Upstream
from meshlab.trace import TraceContext


class SlowUpstream(L7Router):
    """Connects in ``connect_s``, then answers 200 in ``answer_s``."""

    role = "sidecar"

    def __init__(self, connect_s: float, answer_s: float):
        super().__init__("fake", "spiffe://cluster.local/ns/default/sa/fake", net=None, rng=random.Random(1))
        self.connect_s, self.answer_s = connect_s, answer_s

    async def exchange(self, up, data, cluster, ctx, span_id, head=False, keep=True, on_ready=None):
        await asyncio.sleep(self.connect_s)
        on_ready()
        await asyncio.sleep(self.answer_s)
        return Response(200, [], b"ok"), None, {}


def attempt(router: L7Router, per_try=None, connect_timeout=10.0):
    up = Upstream("pod-0", "127.0.0.1", 8080, "plaintext", None)
    action = RouteAction(
        "test",
        (Destination("svc.default.svc.cluster.local"),),
        retry=RetryPolicy(attempts=0, retry_on=frozenset(), per_try_timeout=per_try),
    )
    plan = Plan(
        "outbound|80||svc.default.svc.cluster.local",
        "svc.default.svc.cluster.local",
        action,
        [up],
        TrafficPolicy(connect_timeout=connect_timeout),
    )
    req = Request("GET", "/", [("host", "svc")])
    return asyncio.run(router._attempt(req, TraceContext("0" * 32, None, "r"), "p" * 16, up, 1, plan))


def test_the_per_try_timeout_starts_when_the_connection_is_up():
    """Envoy arms perTryTimeout in UpstreamRequest::onPoolReady: 0.15 s connecting plus 0.1 s
    answering fits a 0.2 s per-try timeout; 0.3 s answering does not."""
    resp, outcome = attempt(SlowUpstream(0.15, 0.1), per_try=0.2)
    assert resp.status == 200
    resp, outcome = attempt(SlowUpstream(0.0, 0.3), per_try=0.2)
    assert resp is None and outcome.failure == "per-try-timeout"


def test_a_destination_rules_connect_timeout_bounds_connecting_only():
    resp, outcome = attempt(SlowUpstream(0.3, 0.0), connect_timeout=0.1)
    assert resp is None and outcome.failure == "connect-failure"
    resp, outcome = attempt(SlowUpstream(0.05, 0.3), connect_timeout=0.1)
    assert resp.status == 200


class Failing(L7Router):
    """Every endpoint answers ``status`` (or fails as ``failure``)."""

    role = "sidecar"

    def __init__(self, status=503, failure=None):
        super().__init__("fake", "spiffe://cluster.local/ns/default/sa/fake", net=None, rng=random.Random(1))
        self.status, self.failure = status, failure

    async def exchange(self, up, data, cluster, ctx, span_id, head=False, keep=True, on_ready=None):
        from meshlab.proxy.upstream import UpstreamFailure

        on_ready()
        if self.failure:
            raise UpstreamFailure(self.failure, "fake")
        return Response(self.status, [], b""), None, {}


def route_flags(router, retry, tp=TrafficPolicy()):
    ups = [Upstream(f"pod-{i}", "127.0.0.1", 8080, "plaintext", None) for i in range(2)]
    action = RouteAction(
        "test", (Destination("svc.default.svc.cluster.local"),), retry=retry, backoff_base=0.001
    )
    plan = Plan(
        "outbound|80||svc.default.svc.cluster.local", "svc.default.svc.cluster.local", action, ups, tp
    )
    req = Request("GET", "/", [("host", "svc")])
    resp, _, flags = asyncio.run(router._attempts(req, TraceContext("0" * 32, None, "r"), "p" * 16, plan))
    return resp.status, flags


def test_envoys_response_flags_for_retries_that_ran_out():
    """RetryStateImpl::shouldRetry: a failure the policy would retry, with no retry left, is URX
    whether it was a response or a reset; with maxRetries already in flight it is UO."""
    five = RetryPolicy(attempts=1, retry_on=frozenset({"5xx"}))
    assert route_flags(Failing(503), five) == (503, ["URX"])
    assert route_flags(Failing(failure="reset"), five) == (503, ["UC", "URX"])
    assert route_flags(Failing(failure="connect-failure"), five) == (503, ["UF", "URX"])
    assert route_flags(Failing(404), five) == (404, [])
    assert route_flags(Failing(503), RetryPolicy(attempts=0, retry_on=frozenset())) == (503, [])
    acct_full = TrafficPolicy(max_retries=1)
    router = Failing(503)
    router._pool(
        "outbound|80||svc.default.svc.cluster.local", acct_full
    ).retries = 1  # one retry in flight elsewhere
    assert route_flags(router, five, acct_full) == (503, ["UO"])
