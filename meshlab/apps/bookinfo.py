"""Bookinfo-like apps: productpage, details, reviews, ratings (Istio's ``samples/bookinfo``).

They keep the behaviours Istio's tasks rely on: productpage calls details then reviews, one after
the other, on new connections, with the timeouts and retries its own code has (from the
topology); it sets ``end-user`` for a logged-in user; reviews v2/v3 call ratings (black/red stars)
and v1 never does; the error texts are Bookinfo's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import random
import re
import time

from ..net.http1 import Request, Response, json_response, text_response
from ..trace import TraceContext
from .runtime import AppRuntime, CallResult

DETAILS_ERROR = "Sorry, product details are currently unavailable for this book."
REVIEWS_ERROR = "Sorry, product reviews are currently unavailable for this book."
RATINGS_ERROR = "Ratings service is currently unavailable"
#: The texts with which a page (or reviews' JSON) answers 200 while a service behind it failed:
#: a partial failure, which the load client notes apart from the HTTP status (Outcome.partial).
PARTIAL_FAILURES = (DETAILS_ERROR, REVIEWS_ERROR, RATINGS_ERROR)

REVIEWS = [
    ("Reviewer1", "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!", 5),
    (
        "Reviewer2",
        "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.",
        4,
    ),
]
DETAILS = {
    "id": 0,
    "author": "William Shakespeare",
    "year": 1595,
    "type": "paperback",
    "pages": 200,
    "publisher": "PublisherA",
    "language": "English",
    "ISBN-10": "1234567890",
    "ISBN-13": "123-1234567890",
}
_ID = re.compile(r"^/(details|reviews|ratings)/(\d+)$")


def _user(req: Request) -> str | None:
    """The logged-in user: the ``user`` cookie set by /login, or ``?u=`` for quick experiments."""
    for part in (req.header("cookie") or "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == "user" and v:
            return v
    u = req.query.get("u")
    return u[0] if u else None


def _call_for(rt: AppRuntime, service: str):
    for c in rt.app.calls:
        if c.service.split(".")[0] == service:
            return c
    return None


def make_productpage(rt: AppRuntime):
    async def handler(req: Request, ctx: TraceContext, span_id: str) -> Response:
        path = req.path
        if path in ("/health",):
            return text_response(200, "Product page is healthy\n")
        if path == "/login" and req.method == "POST":
            user = dict(p.split("=", 1) for p in req.body.decode().split("&") if "=" in p).get("username", "")
            return Response(302, [("location", "/productpage"), ("set-cookie", f"user={user}; Path=/")], b"")
        if path == "/logout":
            return Response(
                302, [("location", "/productpage"), ("set-cookie", "user=; Path=/; Max-Age=0")], b""
            )
        if path not in ("/productpage", "/"):
            return text_response(404, f"not found: {path}\n")
        user = _user(req)
        extra = [("end-user", user)] if user else []
        # Istio's productpage sets end-user from its session only: an end-user header it receives is not
        # among the headers it forwards (getForwardHeaders in samples/bookinfo/src/productpage/productpage.py)
        req = dataclasses.replace(req, headers=[h for h in req.headers if h[0] != "end-user"])
        details = reviews = None
        if (c := _call_for(rt, "details")) is not None:
            details = await rt.call(c, req, ctx, span_id, extra)
        if (c := _call_for(rt, "reviews")) is not None:
            reviews = await rt.call(c, req, ctx, span_id, extra)
        return text_response(200, _render(user, details, reviews), "text/html; charset=utf-8")

    return handler


def _stars(rating: dict) -> str:
    if "error" in rating:
        return f'<p><i>{html.escape(rating["error"])}</i></p>'
    n, color = int(rating.get("stars", 0)), rating.get("color", "black")
    return f'<font color="{html.escape(color)}">' + "&#9733;" * n + "&#9734;" * (5 - n) + "</font>"


def _render(user: str | None, details: CallResult | None, reviews: CallResult | None) -> str:
    out = [
        "<!DOCTYPE html><html><head><title>Simple Bookstore App</title></head><body>",
        f"<p>{'Signed in as ' + html.escape(user) if user else 'Not signed in'}</p>",
        "<h3>The Comedy of Errors</h3>",
    ]
    if details is not None:
        if details.ok:
            d = details.response.json()
            out.append(
                "<h4>Book Details</h4><dl>"
                + "".join(
                    f"<dt>{html.escape(str(k))}:</dt><dd>{html.escape(str(v))}</dd>" for k, v in d.items()
                )
                + "</dl>"
            )
        else:
            out.append(f"<h4>Error fetching product details!</h4><p>{DETAILS_ERROR}</p>")
    if reviews is not None:
        if reviews.ok:
            r = reviews.response.json()
            out.append("<h4>Book Reviews</h4>")
            for rv in r.get("reviews", []):
                out.append(
                    f"<blockquote><p>{html.escape(rv['text'])}</p><small>{html.escape(rv['reviewer'])}</small>"
                )
                if "rating" in rv:
                    out.append(_stars(rv["rating"]))
                out.append("</blockquote>")
            out.append(
                f"<dl><dt>Reviews served by:</dt><dd><u>{html.escape(str(r.get('podname')))}</u></dd></dl>"
            )
        else:
            out.append(f"<h4>Error fetching product reviews!</h4><p>{REVIEWS_ERROR}</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _product_route(req: Request, app: str, kind: str) -> tuple[Response | None, str | None]:
    """The two routes every Bookinfo backend has: ``/health``, and ``/<kind>/<product id>``.
    Returns (a response to send as it is, or None; the product id)."""
    if req.path == "/health":
        return json_response(200, {"status": f"{app} is healthy"}), None
    m = _ID.match(req.path)
    if not m or m.group(1) != kind:
        return json_response(400, {"error": "please provide numeric product id"}), None
    return None, m.group(2)


def make_details(rt: AppRuntime):
    async def handler(req: Request, ctx: TraceContext, span_id: str) -> Response:
        early, pid = _product_route(req, "Details", "details")
        if early is not None:
            return early
        return json_response(200, {**DETAILS, "id": int(pid)})

    return handler


def make_reviews(rt: AppRuntime):
    color = rt.app.params.get("starColor")
    ratings_call = _call_for(rt, "ratings")

    async def handler(req: Request, ctx: TraceContext, span_id: str) -> Response:
        early, pid = _product_route(req, "Reviews", "reviews")
        if early is not None:
            return early
        reviews = [{"reviewer": who, "text": text} for who, text, _ in REVIEWS]
        if ratings_call is not None:
            res = await rt.call(ratings_call, req, ctx, span_id)
            stars = res.response.json().get("ratings", {}) if res.ok else None
            for rv in reviews:
                if stars is None:
                    rv["rating"] = {"error": RATINGS_ERROR}
                else:
                    rv["rating"] = {"stars": stars.get(rv["reviewer"], 0), "color": color}
        return json_response(
            200, {"id": pid, "podname": rt.pod_name, "clustername": "null", "reviews": reviews}
        )

    return handler


def make_ratings(rt: AppRuntime):
    variant = rt.app.params.get("variant", "normal")
    born = time.monotonic()

    def unavailable_now(period: float) -> bool:
        return int((time.monotonic() - born) // period) % 2 == 1

    async def handler(req: Request, ctx: TraceContext, span_id: str) -> Response:
        early, pid = _product_route(req, "Ratings", "ratings")
        if early is not None:
            return early
        if variant == "faulty" and random.random() < 0.5:
            return json_response(503, {"error": "Service unavailable"})
        if variant == "delayed" and random.random() < 0.5:
            await asyncio.sleep(7)
        if variant == "unavailable" and unavailable_now(60):
            return json_response(503, {"error": "Service unavailable"})
        if variant == "unhealthy" and unavailable_now(15 * 60):
            return json_response(503, {"error": "Service unavailable"})
        return json_response(200, {"id": int(pid), "ratings": {who: stars for who, _, stars in REVIEWS}})

    return handler
