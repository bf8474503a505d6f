"""AuthorizationPolicy rules matched: what an enforcement point knows about one connection or request
(:class:`Attributes`), and whether one rule's sources, operations and ``when`` conditions match it.

Istio's matching (ISTIO-FACTS §4.4): a rule matches if (no ``from`` or one source matches) and (no
``to`` or one operation matches) and every ``when`` matches; within a source or operation every field
present must match, a field matches if one of its values does and none of its ``not*`` values does.
Values: exact, ``prefix*``, ``*suffix``, ``*`` (present / non-empty); hosts ignore case; ports compare
as strings; ip blocks are CIDRs or single addresses; ``namespaces`` and ``serviceAccounts`` come from
the peer's mTLS identity. Which rules are in force at a layer, and the verdict, are :mod:`.authz`'s.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

#: ``when`` keys meshlab evaluates (istiod ``authz/model/model.go`` has a few more, JWT ones).
WHEN_KEYS = (
    "request.headers[<name>]",
    "source.ip",
    "remote.ip",
    "source.namespace",
    "source.principal",
    "request.auth.principal",
    "destination.ip",
    "destination.port",
    "connection.sni",
)
_JWT_OR_ENVOY_KEYS = (
    "request.auth.audiences",
    "request.auth.presenter",
    "request.auth.claims[",
    "experimental.envoy.filters.",
)

_PRINCIPAL = re.compile(r"^([^/]+)/ns/([^/]+)/sa/([^/]+)$")


@dataclass(frozen=True)
class Attributes:
    """What an enforcement point knows about one connection (L4) or request (L7).

    ``source_principal`` is the peer's mTLS identity without ``spiffe://`` (ISTIO-FACTS §5), e.g.
    ``cluster.local/ns/default/sa/curl``, or None for a plaintext peer. ``source_namespace`` is
    derived from it (Istio knows no other). ``remote_ip`` (the original client, ``remote.ip`` /
    ``remoteIpBlocks``) defaults to ``source_ip``. ``host``, ``method``, ``path``, ``headers`` and
    ``request_principal`` (a JWT's ``iss/sub``) exist at L7 only.
    """

    destination_port: int
    source_principal: str | None = None
    source_namespace: str | None = None
    source_ip: str | None = None
    destination_ip: str | None = None
    remote_ip: str | None = None
    sni: str | None = None
    host: str | None = None
    method: str | None = None
    path: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    request_principal: str | None = None

    def __post_init__(self):
        principal = self.source_principal
        if principal is not None:
            principal = principal.removeprefix("spiffe://")
            object.__setattr__(self, "source_principal", principal)
            parsed = _PRINCIPAL.match(principal)
            ns = parsed.group(2) if parsed else None
            if self.source_namespace is None:
                object.__setattr__(self, "source_namespace", ns)
            elif self.source_namespace != ns:
                raise ValueError(
                    f"source_namespace {self.source_namespace!r} contradicts source_principal "
                    f"{principal!r}; leave it out, it is derived from the principal"
                )
        elif self.source_namespace is not None:
            raise ValueError(
                f"source_namespace {self.source_namespace!r} without a source_principal: Istio "
                "learns a peer's namespace only from its mTLS identity; set source_principal"
            )
        if self.remote_ip is None:
            object.__setattr__(self, "remote_ip", self.source_ip)
        object.__setattr__(self, "headers", {k.lower(): v for k, v in dict(self.headers).items()})


def check_when_key(key: str) -> None:
    """Raise ValueError naming ``key`` and the allowed keys unless meshlab can evaluate it."""
    if key in _WHEN_ATTRS or _header_name(key):
        return
    allowed = ", ".join(WHEN_KEYS)
    if key.startswith(_JWT_OR_ENVOY_KEYS):
        raise ValueError(
            f"when key {key!r} is valid in Istio but needs JWT claims or Envoy metadata, which "
            f"meshlab does not model; meshlab evaluates: {allowed}"
        )
    raise ValueError(f"unknown when key {key!r}; allowed keys: {allowed}")


def first_match(policy: Mapping, rules: list[tuple[int, dict]], a: Attributes) -> int | None:
    return next((i for i, rule in rules if _rule_matches(rule, a, policy["namespace"])), None)


def _rule_matches(rule: Mapping, a: Attributes, policy_ns: str) -> bool:
    sources = [f.get("source") or {} for f in rule.get("from") or []]
    operations = [t.get("operation") or {} for t in rule.get("to") or []]
    return (
        (not sources or any(_source_matches(s, a, policy_ns) for s in sources))
        and (not operations or any(_operation_matches(o, a) for o in operations))
        and all(_field(c, "values", _when_predicate(c["key"], a)) for c in rule.get("when") or [])
    )


def _source_matches(s: Mapping, a: Attributes, policy_ns: str) -> bool:
    parsed = _PRINCIPAL.match(a.source_principal or "")
    return (
        _field(s, "principals", lambda v: _string_match(v, a.source_principal))
        and _field(s, "namespaces", lambda v: _string_match(v, a.source_namespace))
        and _field(
            s,
            "serviceAccounts",
            lambda v: (
                parsed is not None and _service_account(v, policy_ns) == (parsed.group(2), parsed.group(3))
            ),
        )
        and _field(s, "trustDomains", lambda v: _string_match(v, parsed.group(1) if parsed else None))
        and _field(s, "ipBlocks", lambda v: _in_block(v, a.source_ip))
        and _field(s, "remoteIpBlocks", lambda v: _in_block(v, a.remote_ip))
        and _field(s, "requestPrincipals", lambda v: _string_match(v, a.request_principal))
    )


def _operation_matches(o: Mapping, a: Attributes) -> bool:
    path = None if a.path is None else re.split(r"[?#]", a.path, maxsplit=1)[0]  # Envoy ignores the query
    return (
        _field(o, "hosts", lambda v: _string_match(v, a.host, presence=True, fold=True))
        and _field(o, "ports", lambda v: v == str(a.destination_port))
        and _field(o, "methods", lambda v: _string_match(v, a.method, presence=True))
        and _field(o, "paths", lambda v: _string_match(v, path))
    )


def _field(body: Mapping, name: str, pred: Callable[[str], bool]) -> bool:
    """``name`` (if set) has a matching value and ``notName`` (if set) has none."""
    pos, neg = body.get(name), body.get("not" + name[0].upper() + name[1:])
    return (not pos or any(pred(v) for v in pos)) and not (neg and any(pred(v) for v in neg))


def _when_predicate(key: str, a: Attributes) -> Callable[[str], bool]:
    header = _header_name(key)
    if header:
        return lambda v: _string_match(v, a.headers.get(header), presence=True)
    check_when_key(key)
    return lambda v: _WHEN_ATTRS[key](v, a)


_WHEN_ATTRS: dict[str, Callable[[str, Attributes], bool]] = {
    "source.ip": lambda v, a: _in_block(v, a.source_ip),
    "remote.ip": lambda v, a: _in_block(v, a.remote_ip),
    "source.namespace": lambda v, a: _string_match(v, a.source_namespace),
    "source.principal": lambda v, a: _string_match(v, a.source_principal),
    "request.auth.principal": lambda v, a: _string_match(v, a.request_principal),
    "destination.ip": lambda v, a: _in_block(v, a.destination_ip),
    "destination.port": lambda v, a: v == str(a.destination_port),
    "connection.sni": lambda v, a: _string_match(v, a.sni),
}


def _string_match(pattern: str, actual: str | None, *, presence: bool = False, fold: bool = False) -> bool:
    """Istio's four forms. ``*`` is "present" for headers and "non-empty" (regex ``.+``) otherwise."""
    if actual is None:
        return False
    if fold:
        pattern, actual = pattern.lower(), actual.lower()
    if pattern == "*":
        return presence or actual != ""
    if pattern.startswith("*"):
        return actual.endswith(pattern[1:])
    if pattern.endswith("*"):
        return actual.startswith(pattern[:-1])
    return actual == pattern


def _in_block(block: str, ip: str | None) -> bool:
    return ip is not None and ipaddress.ip_address(ip) in ipaddress.ip_network(block, strict=False)


def _service_account(value: str, policy_ns: str) -> tuple[str, str]:
    ns, sep, sa = value.partition("/")
    return (ns, sa) if sep else (policy_ns, value)


def _header_name(key: str) -> str | None:
    if key.startswith("request.headers[") and key.endswith("]") and len(key) > len("request.headers[]"):
        return key[len("request.headers[") : -1].lower()
    return None
