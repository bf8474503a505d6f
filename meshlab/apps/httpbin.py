"""An httpbin-like app (Istio's ``samples/httpbin``): /status/{codes}, /delay/{s}, /headers, /ip, /get,
/response-headers.

``/status/503`` answers 503; ``/status/200,503`` picks one at random; ``/status/200:3,503:1``
weights the choice, as httpbin does (final statuses only: 200-599). ``/delay/n`` waits n seconds
(at most 10, as httpbin).
``/response-headers?k=v&k=w`` answers with each query parameter as a response header, as httpbin does.
"""

from __future__ import annotations

import asyncio
import math
import random

from ..net.http1 import Request, Response, json_response, text_response
from ..net.httpwrite import check_header
from ..trace import TraceContext
from .runtime import AppRuntime

MAX_DELAY = 10.0


def parse_codes(spec: str) -> list[tuple[int, float]]:
    """``"200,503"`` -> [(200, 1.0), (503, 1.0)]; ``"200:3,503:1"`` -> weights. ValueError if bad."""
    out = []
    for part in spec.split(","):
        code, _, weight = part.strip().partition(":")
        c = int(code)
        if not 200 <= c <= 599:
            raise ValueError(f"status code {c} out of range 200-599 (a final response)")
        w = float(weight) if weight else 1.0
        if not (math.isfinite(w) and w >= 0):
            raise ValueError("weights must be finite numbers, 0 or more")
        out.append((c, w))
    if not out or sum(w for _, w in out) <= 0:
        raise ValueError("no status code with a positive weight")
    return out


def _title(name: str) -> str:
    return "-".join(p.capitalize() for p in name.split("-"))


def _get_dict(req: Request, rt: AppRuntime) -> dict:
    args = {k: v[0] if len(v) == 1 else v for k, v in req.query.items()}
    host = req.header("host", "")
    return {
        "args": args,
        "headers": {_title(k): v for k, v in req.headers},
        "origin": req.peer[0] if req.peer else None,
        "url": f"http://{host}{req.target}",
    }


def make_httpbin(rt: AppRuntime):
    async def handler(req: Request, ctx: TraceContext, span_id: str) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            return text_response(200, f"httpbin-like app in pod {rt.pod_name}\n")
        head = parts[0]
        if head == "status" and len(parts) == 2:
            try:
                choices = parse_codes(parts[1])
            except ValueError as e:
                return text_response(400, f"invalid status code spec {parts[1]!r}: {e}\n")
            code = random.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]
            return Response(code, [("content-type", "text/plain; charset=utf-8")], b"")
        if head == "delay" and len(parts) == 2:
            try:
                secs = min(float(parts[1]), MAX_DELAY)
                if not (math.isfinite(secs) and secs >= 0):
                    raise ValueError
            except ValueError:
                return text_response(400, f"invalid delay {parts[1]!r}: give seconds, 0 to {MAX_DELAY:g}\n")
            await asyncio.sleep(secs)
            return json_response(200, _get_dict(req, rt))
        if head == "headers":
            return json_response(200, {"headers": _get_dict(req, rt)["headers"]})
        if head == "response-headers":
            hs = [(k, v) for k, vs in req.query.items() for v in vs]
            try:
                for k, v in hs:
                    check_header(k, v)
            except ValueError as e:
                return text_response(400, f"cannot send that as a response header: {e}\n")
            return json_response(
                200, {k: v[0] if len(v) == 1 else v for k, v in req.query.items()}, headers=hs
            )
        if head == "ip":
            return json_response(200, {"origin": req.peer[0] if req.peer else None})
        if head in ("get", "anything"):
            d = _get_dict(req, rt)
            if head == "anything":
                d.update(method=req.method, data=req.body.decode("utf-8", "replace"))
            elif req.method not in ("GET", "HEAD"):
                return text_response(405, "method not allowed\n")
            return json_response(200, d)
        return text_response(404, f"not found: {req.path}\n")

    return handler
