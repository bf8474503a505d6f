"""The apps in-process: Bookinfo (productpage, details, reviews v1/v2/v3, ratings) and httpbin,
each served with meshlab.net.http1.serve on its own pod address, called with the load client.

Every test builds its own ClusterNet by hand, with pod addresses picked at random in
127.77.0.0/16 (so concurrent runs on a shared machine do not clash), and runs in its own
asyncio.run. Services are virtual IPs that nothing listens on: the pod's dialer picks an endpoint,
as kube-proxy would.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import random

import pytest

from meshlab.apps.bookinfo import DETAILS_ERROR, RATINGS_ERROR, REVIEWS_ERROR
from meshlab.apps.client import Client
from meshlab.apps.loadgen import LoadPlan
from meshlab.apps.runtime import AppRuntime
from meshlab.apps.worker import make_handler
from meshlab.net.cluster import ClusterNet, PodAddr, ServiceAddr
from meshlab.net.http1 import Request, json_response, serve, text_response
from meshlab.telemetry.paths import build_paths
from meshlab.topology.model import AppSpec, Call

HANG_GUARD = 60.0  # seconds: only so that a hung server fails the test instead of hanging it

PRODUCTPAGE = AppSpec(
    "productpage",
    calls=(
        Call("details", 9080, "/details/0", timeout=10.0, retries=0),
        Call("reviews", 9080, "/reviews/0", timeout=10.0, retries=1),
    ),
)


def ratings_call():
    return (Call("ratings", 9080, "/ratings/0", timeout=10.0),)


def pod_specs(ratings_variant: str) -> dict[str, tuple[AppSpec, dict, tuple[int, ...]]]:
    """pod name -> (app, labels, ports)."""
    return {
        "productpage-v1-0": (PRODUCTPAGE, {"app": "productpage", "version": "v1"}, (9080,)),
        "details-v1-0": (AppSpec("details"), {"app": "details", "version": "v1"}, (9080,)),
        "reviews-v1-0": (AppSpec("reviews"), {"app": "reviews", "version": "v1"}, (9080,)),
        "reviews-v2-0": (
            AppSpec("reviews", calls=ratings_call(), params={"starColor": "black"}),
            {"app": "reviews", "version": "v2"},
            (9080,),
        ),
        "reviews-v3-0": (
            AppSpec("reviews", calls=ratings_call(), params={"starColor": "red"}),
            {"app": "reviews", "version": "v3"},
            (9080,),
        ),
        "ratings-v1-0": (
            AppSpec("ratings", params={"variant": ratings_variant}),
            {"app": "ratings", "version": "v1"},
            (9080,),
        ),
        "httpbin-0": (AppSpec("httpbin"), {"app": "httpbin"}, (8080,)),
        "client-0": (AppSpec("client"), {"app": "client"}, ()),
    }


class Mesh:
    """A hand-built cluster in this process: runtimes, servers and a client in pod client-0."""

    def __init__(self, net: ClusterNet, apps: dict[str, AppSpec]):
        self.net = net
        self.rt = {p.name: AppRuntime(p.name, apps[p.name], net) for p in net.pods}
        self.client = Client(self.rt["client-0"])
        self.servers: list[asyncio.AbstractServer] = []
        self.seen: dict[str, list[Request]] = {name: [] for name in self.rt}

    def ip(self, pod: str) -> str:
        return self.net.pod(pod).ip

    def spans(self):
        return [s for rt in self.rt.values() for s in rt.spans]

    async def get(self, url: str, headers=(), timeout: float = 30.0) -> dict:
        return await self.client.request("GET", url, list(headers), b"", timeout)

    async def statuses(self, url: str, n: int) -> list[int | None]:
        outs = await self.client.load(LoadPlan(requests=n, concurrency=4), "GET", url, [], b"", 30.0)
        assert [o.index for o in outs] == list(range(n))
        return [o.status for o in outs]


def build_net(reviews_endpoints) -> tuple[ClusterNet, dict[str, AppSpec]]:
    rng = random.SystemRandom()
    third = rng.randrange(256)
    specs = pod_specs("normal")
    lasts = rng.sample(range(1, 255), len(specs))
    pods = tuple(
        PodAddr(
            name=name,
            namespace="default",
            node="node-1",
            ip=f"127.77.{third}.{last}",
            labels=labels,
            ports=ports,
        )
        for (name, (_, labels, ports)), last in zip(specs.items(), lasts)
    )
    services = (
        ServiceAddr("productpage", "default", "10.96.0.10", 9080, 9080, ("productpage-v1-0",)),
        ServiceAddr("details", "default", "10.96.0.11", 9080, 9080, ("details-v1-0",)),
        ServiceAddr("reviews", "default", "10.96.0.12", 9080, 9080, tuple(reviews_endpoints)),
        ServiceAddr("ratings", "default", "10.96.0.13", 9080, 9080, ("ratings-v1-0",)),
        ServiceAddr("httpbin", "default", "10.96.0.14", 8000, 8080, ("httpbin-0",)),
    )
    return ClusterNet(pods=pods, services=services, nodes={"node-1": "127.77.255.254"}), {
        name: spec[0] for name, spec in specs.items()
    }


@contextlib.asynccontextmanager
async def mesh(reviews_endpoints=("reviews-v1-0",), ratings_variant="normal", down=(), stand_ins=None):
    """Start every pod's app except those in ``down`` (nothing listens there: connection refused).
    ``stand_ins`` maps a pod to ``make(mesh) -> handler``, served instead of the pod's app. Every request a pod's
    server receives is recorded in ``Mesh.seen[pod]``."""
    stand_ins = stand_ins or {}
    for tries in range(5):
        net, apps = build_net(reviews_endpoints)
        apps["ratings-v1-0"] = AppSpec("ratings", params={"variant": ratings_variant})
        m = Mesh(net, apps)
        try:
            for pod in net.pods:
                if pod.name in down or not pod.ports:
                    continue
                handler = stand_ins[pod.name](m) if pod.name in stand_ins else make_handler(m.rt[pod.name])

                async def recording(req, handler=handler, log=m.seen[pod.name]):
                    log.append(req)
                    return await handler(req)

                for port in pod.ports:
                    m.servers.append(await serve(pod.ip, port, recording))
        except OSError as e:
            for s in m.servers:
                s.close()
            if e.errno == errno.EADDRINUSE and tries < 4:
                continue
            raise
        break
    try:
        yield m
    finally:
        for s in m.servers:
            s.close()
        for s in m.servers:
            await s.wait_closed()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, HANG_GUARD))


def page(r: dict) -> str:
    assert r["status"] == 200, r
    return r["body"]


# --------------------------------------------------------------------------------------------------
# httpbin
# --------------------------------------------------------------------------------------------------

HTTPBIN = "http://httpbin:8000"


def test_httpbin_status_single_code():
    """/status/418 answers 418 (through the httpbin service, port 8000 -> pod port 8080)."""

    async def main():
        async with mesh() as m:
            return await m.get(f"{HTTPBIN}/status/418")

    r = run(main())
    assert r["status"] == 418 and r["error"] is None


def test_httpbin_status_choice_gives_both_codes():
    """/status/200,503 picks one of the two at random: over 200 requests both appear, and nothing
    else does."""

    async def main():
        async with mesh() as m:
            return await m.statuses(f"{HTTPBIN}/status/200,503", 200)

    assert set(run(main())) == {200, 503}


def test_httpbin_status_zero_weight_is_never_chosen():
    """/status/200:1,503:0 gives weight 0 to 503: only 200 comes back."""

    async def main():
        async with mesh() as m:
            return await m.statuses(f"{HTTPBIN}/status/200:1,503:0", 60)

    assert set(run(main())) == {200}


@pytest.mark.parametrize("spec", ["abc", "99", "600", "200:-1", "200:0", "200:x", "200,,503", "503:0,200:0"])
def test_httpbin_bad_status_spec_is_400(spec):
    """A status spec that is not codes 100-599 with non-negative weights (at least one positive)
    is answered 400 naming the spec."""

    async def main():
        async with mesh() as m:
            return await m.get(f"{HTTPBIN}/status/{spec}")

    r = run(main())
    assert r["status"] == 400
    assert "invalid status code spec" in r["body"] and spec in r["body"]


@pytest.mark.parametrize("spec", ["200:nan", "200:inf", "200:1,503:1e309"])
def test_httpbin_non_finite_weight_is_400(spec):
    """A status spec with a NaN or infinite weight is a bad spec: 400, like a negative weight."""

    async def main():
        async with mesh() as m:
            return await m.get(f"{HTTPBIN}/status/{spec}")

    assert run(main())["status"] == 400


def test_httpbin_status_1xx_gets_an_answer():
    """/status/150 (a code parse_codes accepts) gets some HTTP answer rather than a dropped connection."""

    async def main():
        async with mesh() as m:
            return await m.get(f"{HTTPBIN}/status/150", timeout=10.0)

    r = run(main())
    assert r["status"] is not None, r["error"]


def test_httpbin_delay():
    """/delay/0.1 answers 200 with the request echoed; a negative or non-numeric delay is 400."""

    async def main():
        async with mesh() as m:
            return (
                await m.get(f"{HTTPBIN}/delay/0.1?k=v"),
                await m.get(f"{HTTPBIN}/delay/-1"),
                await m.get(f"{HTTPBIN}/delay/soon"),
            )

    ok, neg, text = run(main())
    assert ok["status"] == 200
    body = json.loads(ok["body"])
    assert body["args"] == {"k": "v"} and body["url"] == "http://httpbin:8000/delay/0.1?k=v"
    assert neg["status"] == 400 and "invalid delay" in neg["body"]
    assert text["status"] == 400 and "invalid delay" in text["body"]


def test_httpbin_delay_nan_is_400():
    """/delay/nan is not a number of seconds: 400 (the client gives up after 2 s otherwise)."""

    async def main():
        async with mesh() as m:
            return await m.get(f"{HTTPBIN}/delay/nan", timeout=2.0)

    r = run(main())
    assert r["status"] == 400, r["error"]


def test_httpbin_headers_echoes_request_headers():
    """/headers echoes the request's headers, names in Title-Case, including a custom one and the
    trace context the client added."""

    async def main():
        async with mesh() as m:
            return await m.get(f"{HTTPBIN}/headers", [("X-Lab-Probe", "forty-two")])

    r = run(main())
    headers = json.loads(r["body"])["headers"]
    assert headers["X-Lab-Probe"] == "forty-two"
    assert headers["Host"] == "httpbin:8000"
    assert headers["Traceparent"].startswith("00-")
    assert headers["User-Agent"] == "meshlab-client"


def test_httpbin_ip_is_the_client_pod_ip():
    """/ip returns the caller's address, which is the client pod's own IP (connections leave from
    the pod IP), not 127.0.0.1."""

    async def main():
        async with mesh() as m:
            return m.ip("client-0"), await m.get(f"{HTTPBIN}/ip")

    client_ip, r = run(main())
    assert json.loads(r["body"]) == {"origin": client_ip}
    assert client_ip.startswith("127.77.")


def test_httpbin_get_and_not_found():
    """/get echoes args, origin and URL; a POST to /get is 405; an unknown path is 404."""

    async def main():
        async with mesh() as m:
            get = await m.get(f"{HTTPBIN}/get?a=1&a=2&b=x")
            post = await m.client.request("POST", f"{HTTPBIN}/get", [], b"data")
            missing = await m.get(f"{HTTPBIN}/nowhere")
            return m.ip("client-0"), get, post, missing

    client_ip, get, post, missing = run(main())
    body = json.loads(get["body"])
    assert body["args"] == {"a": ["1", "2"], "b": "x"}
    assert body["origin"] == client_ip
    assert body["url"] == "http://httpbin:8000/get?a=1&a=2&b=x"
    assert post["status"] == 405
    assert missing["status"] == 404


def test_httpbin_response_headers_sends_each_query_parameter_as_a_header():
    """/response-headers?k=v&k=w answers with the headers k: v and k: w (httpbin's), and refuses
    one that cannot be sent with a 400."""

    async def main():
        async with mesh() as m:
            return (
                await m.get(f"{HTTPBIN}/response-headers?x-a=1&x-a=2&x-b=three"),
                await m.get(f"{HTTPBIN}/response-headers?x-a=1%0d%0aInjected:%20yes"),
            )

    ok, bad = run(main())
    assert ok["status"] == 200 and [tuple(h) for h in ok["headers"] if h[0].startswith("x-")] == [
        ("x-a", "1"),
        ("x-a", "2"),
        ("x-b", "three"),
    ]
    assert json.loads(ok["body"]) == {"x-a": ["1", "2"], "x-b": "three"}
    assert bad["status"] == 400 and not any(h[0].lower() == "injected" for h in bad["headers"])


def test_unknown_service_is_a_dns_error():
    """A request to a name that is no service fails with a DNS error and no status."""

    async def main():
        async with mesh() as m:
            return await m.get("http://nosuch:80/")

    r = run(main())
    assert r["status"] is None and r["error"].startswith("dns: ")


# --------------------------------------------------------------------------------------------------
# Bookinfo: details, reviews, ratings
# --------------------------------------------------------------------------------------------------


def reviews_of(m: Mesh, pod: str):
    return m.get(f"http://{m.ip(pod)}:9080/reviews/0")


def test_details_json():
    """details answers the book's details for a numeric id and 400 otherwise."""

    async def main():
        async with mesh() as m:
            return await m.get("http://details:9080/details/7"), await m.get("http://details:9080/details/x")

    ok, bad = run(main())
    d = json.loads(ok["body"])
    assert d["id"] == 7 and d["author"] == "William Shakespeare"
    assert bad["status"] == 400


def test_reviews_v1_has_no_ratings():
    """reviews v1 answers two reviews without any rating, and names its pod; it never calls ratings."""

    async def main():
        async with mesh() as m:
            r = await reviews_of(m, "reviews-v1-0")
            return r, m.seen["ratings-v1-0"]

    r, ratings_seen = run(main())
    body = json.loads(page(r))
    assert body["podname"] == "reviews-v1-0"
    assert len(body["reviews"]) == 2
    assert all("rating" not in rv for rv in body["reviews"])
    assert ratings_seen == []


@pytest.mark.parametrize("pod,color", [("reviews-v2-0", "black"), ("reviews-v3-0", "red")])
def test_reviews_v2_v3_have_stars(pod, color):
    """reviews v2 shows black stars and v3 red ones: 5 for Reviewer1 and 4 for Reviewer2, taken
    from ratings (which received exactly one call)."""

    async def main():
        async with mesh() as m:
            return await reviews_of(m, pod), len(m.seen["ratings-v1-0"])

    r, ratings_calls = run(main())
    body = json.loads(page(r))
    assert body["podname"] == pod
    assert [rv["rating"] for rv in body["reviews"]] == [
        {"stars": 5, "color": color},
        {"stars": 4, "color": color},
    ]
    assert ratings_calls == 1


@pytest.mark.parametrize("pod", ["reviews-v2-0", "reviews-v3-0"])
def test_reviews_with_ratings_unreachable(pod):
    """With nothing listening for ratings, reviews v2/v3 still answer 200, each review carrying
    the rating error "Ratings service is currently unavailable"."""

    async def main():
        async with mesh(down=("ratings-v1-0",)) as m:
            return await reviews_of(m, pod)

    body = json.loads(page(run(main())))
    assert [rv["rating"] for rv in body["reviews"]] == [{"error": RATINGS_ERROR}] * 2
    assert RATINGS_ERROR == "Ratings service is currently unavailable"


def test_ratings_faulty_gives_200_and_503():
    """The faulty ratings variant answers 503 about half the time: over 100 requests both 200 and
    503 appear, and nothing else."""

    async def main():
        async with mesh(ratings_variant="faulty") as m:
            return await m.statuses("http://ratings:9080/ratings/0", 100)

    assert set(run(main())) == {200, 503}


def test_ratings_normal_always_200():
    """The normal ratings variant answers every request 200 with both ratings."""

    async def main():
        async with mesh() as m:
            return await m.statuses("http://ratings:9080/ratings/0", 30), await m.get(
                "http://ratings:9080/ratings/0"
            )

    statuses, one = run(main())
    assert set(statuses) == {200}
    assert json.loads(one["body"])["ratings"] == {"Reviewer1": 5, "Reviewer2": 4}


# --------------------------------------------------------------------------------------------------
# Bookinfo: productpage
# --------------------------------------------------------------------------------------------------

PRODUCTPAGE_URL = "http://productpage:9080/productpage"


@pytest.mark.parametrize("reviews_pod", ["reviews-v1-0", "reviews-v2-0", "reviews-v3-0"])
def test_productpage_shows_details_and_reviews_served_by(reviews_pod):
    """The product page shows the book details and the reviews, says which reviews pod served
    them, and (for v2/v3) shows the stars in that version's colour."""

    async def main():
        async with mesh(reviews_endpoints=(reviews_pod,)) as m:
            return await m.get(PRODUCTPAGE_URL)

    html = page(run(main()))
    assert "Reviews served by:" in html and reviews_pod in html
    assert "William Shakespeare" in html and "Book Details" in html
    assert "Not signed in" in html
    assert "Error fetching" not in html
    if reviews_pod == "reviews-v1-0":
        assert "&#9733;" not in html
    else:
        color = "black" if reviews_pod == "reviews-v2-0" else "red"
        assert f'<font color="{color}">' in html and "&#9733;" * 5 in html


def test_productpage_with_details_down():
    """With details down, the page still renders: "Error fetching product details!" with
    Bookinfo's apology, and the reviews as usual."""

    async def main():
        async with mesh(down=("details-v1-0",)) as m:
            return await m.get(PRODUCTPAGE_URL)

    html = page(run(main()))
    assert "Error fetching product details!" in html and DETAILS_ERROR in html
    assert "Reviews served by:" in html


def test_the_load_client_notes_the_apps_error_texts_in_an_ok_answer():
    """The client of a load marks each answer whose body carries an app's own error text (its
    ``partial``): with reviews down every page is a 200 saying REVIEWS_ERROR; with it up, none."""

    async def main():
        async with mesh(down=("reviews-v1-0",)) as m:
            down = await m.client.load(
                LoadPlan(requests=4, concurrency=2), "GET", PRODUCTPAGE_URL, [], b"", 30.0
            )
        async with mesh() as m:
            up = await m.client.load(
                LoadPlan(requests=4, concurrency=2), "GET", PRODUCTPAGE_URL, [], b"", 30.0
            )
            one = await m.get(f"{HTTPBIN}/get")
        return down, up, one

    down, up, one = run(main())
    assert [(o.status, o.partial) for o in down] == [(200, (REVIEWS_ERROR,))] * 4
    assert [(o.status, o.partial) for o in up] == [(200, ())] * 4
    assert tuple(one["partial"]) == ()  # (a list once it has crossed the control channel)


def test_productpage_with_reviews_down_retries_once():
    """With reviews down, the page says "Error fetching product reviews!" and "Sorry, product
    reviews are currently unavailable for this book.", and productpage's runtime recorded two
    client spans to reviews, attempts 1 and 2, both refused."""

    async def main():
        async with mesh(down=("reviews-v1-0",)) as m:
            r = await m.get(PRODUCTPAGE_URL)
            return r, list(m.rt["productpage-v1-0"].spans)

    r, spans = run(main())
    html = page(r)
    assert "Error fetching product reviews!" in html
    assert "Sorry, product reviews are currently unavailable for this book." in html
    assert REVIEWS_ERROR in html
    assert "Book Details" in html
    calls = [s for s in spans if s.kind == "client" and s.target.startswith("reviews:9080/")]
    assert [s.attempt for s in calls] == [1, 2]
    assert all(s.status is None and s.error == "connection refused" for s in calls)


def test_productpage_retries_reviews_after_503():
    """When reviews answers 503, productpage tries once more (two client spans, attempts 1 and 2,
    both 503; reviews received two requests) and then shows the reviews error."""

    async def always_503(req):
        return json_response(503, {"error": "Service unavailable"})

    async def main():
        async with mesh(stand_ins={"reviews-v1-0": lambda m: always_503}) as m:
            r = await m.get(PRODUCTPAGE_URL)
            return r, list(m.rt["productpage-v1-0"].spans), len(m.seen["reviews-v1-0"])

    r, spans, received = run(main())
    assert "Error fetching product reviews!" in page(r)
    calls = [s for s in spans if s.kind == "client" and s.target.startswith("reviews:9080/")]
    assert [(s.attempt, s.status) for s in calls] == [(1, 503), (2, 503)]
    assert received == 2


def test_productpage_retry_succeeds_on_second_attempt():
    """When reviews fails the first attempt only, the second attempt's answer is shown."""

    def flaky_reviews(m: Mesh):
        real = make_handler(m.rt["reviews-v1-0"])
        count = [0]

        async def flaky(req):
            count[0] += 1
            if count[0] == 1:
                return text_response(503, "not yet\n")
            return await real(req)

        return flaky

    async def main():
        async with mesh(stand_ins={"reviews-v1-0": flaky_reviews}) as m:
            r = await m.get(PRODUCTPAGE_URL)
            return r, list(m.rt["productpage-v1-0"].spans)

    r, spans = run(main())
    assert "Reviews served by:" in page(r) and "reviews-v1-0" in page(r)
    calls = [s for s in spans if s.kind == "client" and s.target.startswith("reviews:9080/")]
    assert [(s.attempt, s.status) for s in calls] == [(1, 503), (2, 200)]


def test_signed_in_user_is_sent_to_reviews_as_end_user():
    """A ``user=jason`` cookie makes productpage greet jason and send ``end-user: jason`` (and the
    cookie) to reviews; without the cookie no end-user header is sent."""

    async def main():
        async with mesh() as m:
            signed_in = await m.get(PRODUCTPAGE_URL, [("cookie", "theme=dark; user=jason")])
            anonymous = await m.get(PRODUCTPAGE_URL)
            return signed_in, anonymous, list(m.seen["reviews-v1-0"]), list(m.seen["details-v1-0"])

    signed_in, anonymous, reviews_seen, details_seen = run(main())
    assert "Signed in as jason" in page(signed_in)
    assert "Not signed in" in page(anonymous)
    assert len(reviews_seen) == 2
    assert reviews_seen[0].header("end-user") == "jason"
    assert "user=jason" in reviews_seen[0].header("cookie")
    assert details_seen[0].header("end-user") == "jason"
    assert reviews_seen[1].header("end-user") is None


def test_request_id_and_trace_are_forwarded_down_the_call_tree():
    """A request sent with x-request-id reaches details and reviews with the same x-request-id and
    a traceparent of the same trace; every span of every runtime (client, productpage, details,
    reviews, ratings) carries that trace id and request id; each server span's parent is the
    client span that called it; and the spans rebuild into the path client -> productpage ->
    details, reviews -> ratings."""

    async def main():
        async with mesh(reviews_endpoints=("reviews-v2-0",)) as m:
            r = await m.get(PRODUCTPAGE_URL, [("x-request-id", "lab-rid-123")])
            return r, m.spans(), m.seen

    r, spans, seen = run(main())
    page(r)
    tid = r["trace_id"]
    assert r["request_id"] == "lab-rid-123"
    for pod in ("details-v1-0", "reviews-v2-0", "ratings-v1-0"):
        [req] = seen[pod]
        assert req.header("x-request-id") == "lab-rid-123", pod
        assert req.header("traceparent").split("-")[1] == tid, pod
    assert len(spans) == 8  # client, pp server, 2 pp client, details, reviews, reviews client, ratings
    assert {s.trace_id for s in spans} == {tid}
    assert {s.request_id for s in spans} == {"lab-rid-123"}
    by_id = {s.span_id: s for s in spans}
    for s in spans:
        if s.kind == "server":
            caller = by_id[s.parent_id]
            assert caller.kind == "client"
    details_srv = next(s for s in spans if s.name == "details-v1-0")
    assert by_id[details_srv.parent_id].name == "productpage-v1-0"
    [root] = [s for s in spans if s.parent_id is None]
    assert root.name == "client-0" and root.role == "client"
    path = build_paths(spans)[tid]
    assert [(h.depth, h.name) for h in path.hops] == [
        (0, "client-0"),
        (1, "productpage-v1-0"),
        (2, "details-v1-0"),
        (2, "reviews-v2-0"),
        (3, "ratings-v1-0"),
    ]


def test_productpage_health_login_and_404():
    """productpage answers /health, sets the user cookie on POST /login, and 404s unknown paths."""

    async def main():
        async with mesh() as m:
            health = await m.get("http://productpage:9080/health")
            login = await m.client.request(
                "POST",
                "http://productpage:9080/login",
                [("content-type", "application/x-www-form-urlencoded")],
                b"username=jason&passwd=x",
            )
            missing = await m.get("http://productpage:9080/nope")
            return health, login, missing

    health, login, missing = run(main())
    assert health["status"] == 200
    assert login["status"] == 302
    assert ("set-cookie", "user=jason; Path=/") in [tuple(h) for h in login["headers"]]
    assert missing["status"] == 404
