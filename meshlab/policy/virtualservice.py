"""VirtualService (``networking.istio.io``): validated, compiled, checked, written. Pure.

One home for the kind, ``retries`` included: :func:`validate` checks it, :func:`retry_policy`
compiles it (Istio's ``retry.ConvertPolicy``), :func:`virtual_service` writes it from the control
panel's :class:`RouteSettings`.

- **validate**: ``hosts``, ``gateways`` (``mesh`` only), ``exportTo``, ``http`` routes — ``match``
  (uri, method, authority, headers, withoutHeaders, sourceLabels, sourceNamespace, ignoreUriCase),
  ``route`` destinations with weights, ``timeout``, ``retries``, ``fault``; the rest of the real
  API is refused by name.
- **compile** to a :class:`~.routing.RouteSource`: every route's match blocks and its
  :class:`~.routing.RouteAction` (destinations, timeout, retry policy, faults), evaluated by
  :mod:`.routing` exactly like an HTTPRoute's.
- **check**: hosts and destinations that are no service, subsets no DestinationRule defines, L7
  rules no proxy applies (ambient with no waypoint), ``sourceLabels`` at a waypoint, faults with
  no percentage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import yaml

from ..durations import format_duration, parse_duration
from ..yamlnode import YamlNode, close_match, listing
from .destinationrule import destination_rule_for, subset_labels
from .handler import Document, KindHandler
from .hosts import fqdn, short_name_hint
from .objects import PolicyObject, panel_meta
from .retries import BACKOFF_BASE, DEFAULT_RETRY, RETRY_ON, RetryPolicy
from .routing import Destination, RouteAction, RouteSource

API_VERSIONS = ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")


# -- validate -------------------------------------------------------------------------------------


def validate(spec: YamlNode | None, doc: Document) -> None:
    s = doc.spec(spec).mapping(("hosts",), ("http", "gateways", "exportTo"), unsupported=("tcp", "tls"))
    for h in s["hosts"].seq(allow_empty=False):
        h.string()
    if "gateways" in s:
        for g in s["gateways"].seq():
            if g.string() != "mesh":
                raise g.error(
                    "meshlab has no ingress gateways: gateways may only list 'mesh' "
                    "(the sidecars and waypoints, Istio's default)"
                )
    if "exportTo" in s:
        for e in s["exportTo"].seq():
            e.string(["*", "."])
    for r in s["http"].seq() if "http" in s else []:
        _http_route(r)


def _http_route(r: YamlNode) -> None:
    m = r.mapping(
        ("route",),
        ("name", "match", "timeout", "retries", "fault"),
        unsupported=(
            "redirect",
            "directResponse",
            "rewrite",
            "mirror",
            "mirrors",
            "mirrorPercentage",
            "mirrorPercent",
            "mirror_percent",
            "corsPolicy",
            "headers",
            "delegate",
        ),
    )
    if "name" in m:
        m["name"].string()
    for mt in m["match"].seq() if "match" in m else []:
        _match(mt)
    routes = m["route"].seq(allow_empty=False)
    for d in routes:
        dm = d.mapping(("destination",), ("weight",), unsupported=("headers",))
        _destination(dm["destination"])
        if "weight" in dm:
            dm["weight"].integer(0, 2**31 - 1)
    if len(routes) > 1 and all(
        "weight" not in d.mapping() or d.at_key("weight").value() == 0 for d in routes
    ):
        raise m["route"].error(
            "every destination has weight 0 (or none): give the destinations weights "
            "(a destination gets weight / sum of weights of the traffic)"
        )
    if "timeout" in m:
        m["timeout"].duration()
    if "retries" in m:
        rt = m["retries"].mapping(
            (),
            ("attempts", "perTryTimeout", "retryOn", "retryIgnorePreviousHosts", "backoff"),
            unsupported=("retryRemoteLocalities",),
        )
        if "attempts" in rt:
            rt["attempts"].integer(0, 1000)
        for k in ("perTryTimeout", "backoff"):
            if k in rt:
                rt[k].duration()
        if "retryIgnorePreviousHosts" in rt:
            rt["retryIgnorePreviousHosts"].boolean()
        if "retryOn" in rt:
            parse_retry_on(rt["retryOn"].string(), rt["retryOn"])
    if "fault" in m:
        f = m["fault"].mapping((), ("delay", "abort"))
        if "delay" in f:
            d = f["delay"].mapping(
                ("fixedDelay",), ("percentage", "percent"), unsupported=("exponentialDelay",)
            )
            d["fixedDelay"].duration()
            _percentage(d)
        if "abort" in f:
            a = f["abort"].mapping(
                ("httpStatus",), ("percentage", "percent"), unsupported=("grpcStatus", "http2Error")
            )
            a["httpStatus"].integer(200, 599)
            _percentage(a)


def _percentage(m: dict) -> None:
    if "percentage" in m:
        p = m["percentage"].mapping(("value",))
        v = p["value"]._scalar(float, "a number from 0 to 100")
        if not 0 <= v <= 100:
            raise p["value"].error(f"{v} is out of range; allowed: 0 to 100 (percent of requests)")
    if "percent" in m:
        m["percent"].integer(0, 100)


def _match(mt: YamlNode) -> None:
    m = mt.mapping(
        (),
        (
            "name",
            "uri",
            "method",
            "authority",
            "headers",
            "withoutHeaders",
            "sourceLabels",
            "sourceNamespace",
            "ignoreUriCase",
        ),
        unsupported=("scheme", "queryParams", "port", "gateways", "statPrefix"),
    )
    for k in ("uri", "method", "authority"):
        if k in m:
            _string_match(m[k])
    for k in ("headers", "withoutHeaders"):
        for name, v in m[k].free_mapping().items() if k in m else []:
            if not _HEADER_NAME.match(name) or name != name.lower():
                raise v.error(
                    f"header name {name!r} must be lower-case (Istio: keys are lowercase "
                    "and use hyphens as the separator)"
                )
            if isinstance(v.node, yaml.MappingNode) and not v.node.value:
                continue  # {} is a presence check
            _string_match(v)
    if "sourceLabels" in m:
        m["sourceLabels"].labels()
    if "sourceNamespace" in m:
        m["sourceNamespace"].name()
    if "ignoreUriCase" in m:
        m["ignoreUriCase"].boolean()


def _string_match(at: YamlNode) -> None:
    m = at.mapping((), ("exact", "prefix", "regex"))
    if len(m) != 1:
        raise at.error("a string match needs exactly one of exact, prefix, regex")
    ((k, v),) = m.items()
    s = v.string()
    if k == "regex":
        try:
            re.compile(s)
        except re.error as e:
            raise v.error(f"not a valid regular expression: {e}") from None


def _destination(at: YamlNode) -> None:
    d = at.mapping(("host",), ("subset", "port"))
    d["host"].string()
    if "subset" in d:
        d["subset"].name()
    if "port" in d:
        d["port"].mapping(("number",))["number"].port()


def parse_retry_on(value: str, at: YamlNode | None = None) -> tuple[frozenset[str], frozenset[int]]:
    """``"5xx,gateway-error,503"`` -> (policies, status codes). Integer entries are status codes:
    Istio adds ``retriable-status-codes`` for them."""
    policies, codes = set(), set()
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if part.isdigit():
            code = int(part)
            if not 100 <= code <= 599:
                _fail(at, f"retryOn status code {code} is out of range (100 to 599)")
            codes.add(code)
            policies.add("retriable-status-codes")
        elif part in RETRY_ON:
            policies.add(part)
        else:
            _fail(
                at,
                f"unknown retryOn value {part!r}{close_match(part, RETRY_ON)}; allowed: {listing(RETRY_ON)}, "
                "or HTTP status codes such as 503",
            )
    return frozenset(policies), frozenset(codes)


def _fail(at: YamlNode | None, message: str):
    if at is not None:
        raise at.error(message)
    raise ValueError(message)


# -- compile --------------------------------------------------------------------------------------


def compile(o: PolicyObject) -> RouteSource:
    routes = tuple(
        (tuple(r.get("match") or [{}]), route_action(o, i, r)) for i, r in enumerate(o.spec.get("http") or [])
    )
    return RouteSource(
        f"VirtualService {o.namespace}/{o.name}",
        tuple(fqdn(h, o.namespace) for h in o.spec["hosts"]),
        routes,
        tuple(o.spec.get("exportTo") or ()),
    )


def route_action(vs: PolicyObject, index: int, r: Mapping) -> RouteAction:
    name = f"VirtualService {vs.namespace}/{vs.name} http[{index}]" + (
        f" ({r['name']})" if r.get("name") else ""
    )
    dests = tuple(
        Destination(
            fqdn(d["destination"]["host"], vs.namespace),
            d["destination"].get("subset"),
            (d["destination"].get("port") or {}).get("number"),
            d.get("weight", 100 if len(r["route"]) == 1 else 0),
        )
        for d in r["route"]
    )
    retry, base = retry_policy(r.get("retries"), name)
    timeout = parse_duration(r["timeout"]) if r.get("timeout") else None
    delay = abort = None
    fault = r.get("fault")
    if fault:
        if "delay" in fault:
            delay = (parse_duration(fault["delay"]["fixedDelay"]), percentage(fault["delay"]))
        if "abort" in fault:
            abort = (int(fault["abort"]["httpStatus"]), percentage(fault["abort"]))
    return RouteAction(name, dests, timeout, retry, base, delay, abort)


def percentage(f: Mapping) -> float:
    if "percentage" in f:
        return float(f["percentage"].get("value", 0))
    return float(f.get("percent", 0))


def retry_policy(retries: Mapping | None, source: str) -> tuple[RetryPolicy, float]:
    """Istio's translation of ``retries`` (``retry.ConvertPolicy`` in
    ``pilot/pkg/networking/core/route/retry/retry.go``): none given -> the mesh default;
    ``attempts`` 0 -> no retries; otherwise the default policy with the given attempts,
    ``retryOn``, ``perTryTimeout``, ``backoff`` and ``retryIgnorePreviousHosts`` (false drops
    Envoy's previous-hosts predicate: a retry may go back to the host that just failed)."""
    if retries is None:
        return DEFAULT_RETRY, BACKOFF_BASE
    attempts = int(retries.get("attempts", 0))
    if attempts <= 0:
        return RetryPolicy(attempts=0, retry_on=frozenset(), source=f"{source}: retries off"), BACKOFF_BASE
    on, codes = DEFAULT_RETRY.retry_on, DEFAULT_RETRY.retriable_status_codes
    if retries.get("retryOn"):
        on, codes = parse_retry_on(retries["retryOn"])
    per_try = parse_duration(retries["perTryTimeout"]) if retries.get("perTryTimeout") else None
    base = parse_duration(retries["backoff"]) if retries.get("backoff") else BACKOFF_BASE
    return RetryPolicy(
        attempts,
        on,
        codes,
        per_try,
        source=source,
        ignore_previous_hosts=bool(retries.get("retryIgnorePreviousHosts", True)),
    ), base


# -- check ----------------------------------------------------------------------------------------


def l7_unenforced(o, svc, lab) -> str | None:
    """Why no proxy applies ``o``'s L7 rules for ``svc``, or None: ambient with no waypoint and
    no sidecar caller (ztunnel never reads HTTP), or no mesh at all. Shared with HTTPRoute."""
    topo = lab.topology
    if (svc.namespace, svc.name) in lab.waypoint_of:
        return None
    clients_l7 = any(lab.mesh.get(p.name) == "sidecar" for p in topo.pods)
    ambient_dst = any(lab.mesh.get(p.name) == "ambient" for p in topo.pods if svc.selects(p))
    if ambient_dst and not clients_l7:
        return (
            f"{o}: {svc.name} is in ambient mode with no waypoint, so no proxy applies its L7 rules "
            "(ztunnel never reads HTTP). Add a waypoint for it (lab.set_waypoints(['"
            f"{svc.name}']) or the istio.io/use-waypoint label)"
        )
    if not clients_l7 and not ambient_dst:
        return f"{o}: no proxy sees requests to {svc.name} (mode none): it affects nothing"
    return None


def check(o: PolicyObject, lab, store) -> list[str]:
    out = []
    services = {s.fqdn: s for s in lab.topology.services}
    for h in o.spec["hosts"]:
        host = fqdn(h, o.namespace)
        if host not in services:
            out.append(
                f"{o}: host {h!r} ({host}) is not a service in the lab; it affects nothing"
                f"{short_name_hint(host, services)}"
            )
            continue
        why = l7_unenforced(o, services[host], lab)
        if why:
            out.append(why)
    at_waypoint = [
        h
        for h in o.spec["hosts"]
        if fqdn(h, o.namespace) in services
        and (services[fqdn(h, o.namespace)].namespace, services[fqdn(h, o.namespace)].name) in lab.waypoint_of
    ]
    for i, r in enumerate(o.spec.get("http") or []):
        for j, m in enumerate(r.get("match") or []):
            if m.get("sourceLabels") and at_waypoint:
                out.append(
                    f"{o}: http[{i}].match[{j}] uses sourceLabels, which waypoints ignore: istiod drops such "
                    f"match blocks from the routes of the waypoint serving {', '.join(at_waypoint)} "
                    "(source label matching is not supported in ambient mode, istio/istio#51565), so "
                    "requests through it never match that block"
                )
        for j, d in enumerate(r["route"]):
            host, subset = fqdn(d["destination"]["host"], o.namespace), d["destination"].get("subset")
            if host not in services:
                out.append(
                    f"{o}: http[{i}].route[{j}] sends to {d['destination']['host']!r} ({host}), which is not "
                    f"a service in the lab: those requests get 503 (NC){short_name_hint(host, services)}"
                )
            elif subset:
                pending = [x for x in store.items if x.kind == "DestinationRule"]
                dr = destination_rule_for(pending, host)
                if subset_labels(dr, subset) is None:
                    out.append(
                        f"{o}: http[{i}].route[{j}] uses subset {subset!r} of {host}, but no DestinationRule "
                        "defines it: those requests get 503 (NC) until one does"
                    )
    for r in o.spec.get("http") or []:
        for k in ("delay", "abort"):
            f = (r.get("fault") or {}).get(k)
            if f is not None and "percentage" not in f and "percent" not in f:
                out.append(
                    f"{o}: fault {k} has no percentage, so it applies to no request "
                    "(Istio's default); add percentage: {value: 100}"
                )
    return out


# -- build ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteSettings:
    """One service's VirtualService as the control panel sets it::

    >>> vs = virtual_service(RouteSettings("reviews", attempts=3, retry_on=("5xx",), timeout_s=0.5))
    >>> vs["spec"]["http"][0]["retries"], vs["spec"]["http"][0]["timeout"]
    ({'attempts': 3, 'retryOn': '5xx'}, '500ms')
    """

    host: str  # a service, short name
    namespace: str = "default"
    attempts: int | None = None  # None: Istio's default retry policy
    per_try_timeout_s: float | None = None
    retry_on: tuple[str, ...] = ()  # () with attempts: Istio's default retryOn
    timeout_s: float | None = None  # None: no timeout (Istio's default)
    delay_percent: float = 0.0
    delay_s: float = 0.0
    abort_percent: float = 0.0
    abort_status: int = 503
    weights: Mapping[str, int] = field(default_factory=dict)  # subset -> weight; empty: no split

    @property
    def is_default(self) -> bool:
        return (
            self.attempts is None
            and not self.timeout_s
            and not self.delay_percent
            and not self.abort_percent
            and not any(self.weights.values())
        )


def virtual_service(s: RouteSettings) -> dict | None:
    """The VirtualService for ``s``, or None when every setting is Istio's default."""
    if s.is_default:
        return None
    route: dict = {}
    if any(s.weights.values()):
        route["route"] = [
            {"destination": {"host": s.host, "subset": name}, "weight": w}
            for name, w in s.weights.items()
            if w
        ]
    else:
        route["route"] = [{"destination": {"host": s.host}}]
    if s.timeout_s:
        route["timeout"] = format_duration(s.timeout_s)
    if s.attempts is not None:
        retries: dict = {"attempts": s.attempts}
        if s.per_try_timeout_s:
            retries["perTryTimeout"] = format_duration(s.per_try_timeout_s)
        if s.retry_on:
            retries["retryOn"] = ",".join(s.retry_on)
        route["retries"] = retries
    fault: dict = {}
    if s.delay_percent:
        fault["delay"] = {"fixedDelay": format_duration(s.delay_s), "percentage": {"value": s.delay_percent}}
    if s.abort_percent:
        fault["abort"] = {"httpStatus": s.abort_status, "percentage": {"value": s.abort_percent}}
    if fault:
        route["fault"] = fault
    return {
        "apiVersion": API_VERSIONS[0],
        "kind": "VirtualService",
        "metadata": panel_meta(s.host, s.namespace),
        "spec": {"hosts": [s.host], "http": [route]},
    }


HANDLER = KindHandler("VirtualService", API_VERSIONS, validate, compile, check)
