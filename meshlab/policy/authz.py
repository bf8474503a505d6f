"""AuthorizationPolicy, decided: which policies bind to an enforcement point, and what they say.

Pure functions over policies shaped like the YAML (already validated structurally)::

    {"name": "details-viewer", "namespace": "default",
     "spec": {"selector": {"matchLabels": {"app": "details"}},          # or targetRefs
              "action": "ALLOW",                                         # the default
              "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/bookinfo-productpage"]}}],
                         "to": [{"operation": {"methods": ["GET"]}}]}]}}

    bound = [p for p in policies if applies(p, namespace="default", labels={"app": "details"},
                                            enforcement="sidecar")]
    d = decide(bound, Attributes(destination_port=9080, source_principal="cluster.local/ns/default/sa/curl",
                                 method="GET", path="/details/0"))
    d.allowed, d.reason          # False, "implicit deny: ALLOW policies apply (default/details-viewer) ..."

**Binding** (:func:`applies`; istiod ``WorkloadPolicyMatcher.ShouldAttachPolicy``): a policy in the
root namespace binds mesh-wide, otherwise in its own namespace; ``selector.matchLabels`` narrows it
to matching workloads. Sidecars ignore policies with ``targetRefs`` "altogether", and istiod sends
ztunnel none ("TargetRef is not intended for ztunnel"). Waypoints take *only* ``targetRefs``
policies (ISTIO-FACTS §4.4: "selector policies will be ignored"): Gateway (by waypoint name, same
namespace), Service (the addressed Service, same namespace as the policy) or GatewayClass
``istio-waypoint`` (from the root namespace).

**Evaluation** (:func:`decide`; ISTIO-FACTS §4.4): CUSTOM is not evaluated (:func:`unsupported`
says so); any matching DENY denies; with no ALLOW policy everything else is allowed; a matching ALLOW
allows; otherwise the implicit deny. AUDIT never changes the decision (matching AUDIT policies are
listed in ``Decision.audited``). A policy without ``rules`` (``spec: {}``) matches nothing, so as
an ALLOW it denies everything; ``rules: [{}]`` matches everything. A rule matches if (no ``from`` or
one source matches) and (no ``to`` or one operation matches) and every ``when`` matches; within a
source or operation every field present must match, a field matches if one of its values does and
none of its ``not*`` values does. Values: exact, ``prefix*``, ``*suffix``, ``*`` (present / non-empty);
hosts ignore case; ports compare as strings; ip blocks are CIDRs or single addresses; ``namespaces``
and ``serviceAccounts`` (``<ns>/<sa>``, or ``<sa>`` in the policy's namespace) come from the peer's
mTLS identity, so a plaintext peer matches none of them (and every ``not*`` of them).

**Layers** — the same policy means different things to different filters:

- ``"L7"``: Envoy's HTTP RBAC filter (sidecar or waypoint, HTTP traffic): everything is evaluated.
- ``"TCP"``: Envoy's network RBAC filter (a sidecar on a TCP port; istiod ``Model.Generate(forTCP)``):
  ALLOW rules that use HTTP attributes are skipped; in DENY rules they are dropped and so "treated
  as matches" — DENY ``methods`` + ``ports`` denies all TCP on that port (ISTIO-FACTS §4.4).
- ``"L4"``: ztunnel, after istiod's ambient conversion (:func:`for_ztunnel`,
  ``pilot/pkg/serviceregistry/ambient/authorization.go``): only principals, namespaces,
  serviceAccounts, ipBlocks, ports and the ``when`` keys in :data:`L4_WHEN_KEYS` survive. ALLOW rules
  with anything else are dropped (the policy still counts as an ALLOW: it fails closed). DENY rules
  lose those fields, and a source, operation or condition left empty "is skipped (match-none, not
  match-all)": DENY ``methods`` + ``ports`` denies the whole port, DENY ``methods`` alone has no effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from ..modes import PROXY_ROLES
from .authzmatch import Attributes, check_when_key, first_match

ROOT_NAMESPACE = "istio-system"
ACTIONS = ("ALLOW", "DENY", "AUDIT", "CUSTOM")
ENFORCEMENTS = PROXY_ROLES  # where a policy is enforced: the proxy roles
LAYERS = ("L7", "TCP", "L4")
GATEWAY_GROUP = "gateway.networking.k8s.io"
WAYPOINT_CLASS = "istio-waypoint"

#: ``when`` keys istiod's ambient conversion keeps for ztunnel (``l4WhenAttributes``).
L4_WHEN_KEYS = frozenset(
    {"source.ip", "source.namespace", "source.principal", "destination.ip", "destination.port"}
)

# What each layer cannot see (istiod: generators that fail "forTCP"; ambient httpOperations/httpSources).
_HTTP_OPERATION = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")
_HTTP_SOURCE = {
    "TCP": ("requestPrincipals", "notRequestPrincipals"),
    "L4": (
        "remoteIpBlocks",
        "notRemoteIpBlocks",
        "requestPrincipals",
        "notRequestPrincipals",
        "trustDomains",
        "notTrustDomains",
    ),
}

# Istio's status texts (ambient/authorization.go).
_HTTP_RULE_FMT = (
    "ztunnel does not support HTTP attributes (found: {}). "
    "In ambient mode you must use a waypoint proxy to enforce HTTP rules. {}"
)
_DENY_NO_EFFECT = (
    "After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at "
    "ztunnel and will have no effect. Deploy a waypoint proxy and use a targetRef to enforce "
    "this policy."
)
_DENY_MIXED = (
    "DENY policy with HTTP attributes is enforced without the HTTP rules. "
    "This will be more restrictive than requested."
)
_ALLOW_DROPPED = (
    "Within an ALLOW policy, rules matching HTTP attributes are omitted. "
    "This will be more restrictive than requested."
)


@dataclass(frozen=True)
class Decision:
    """The verdict. ``action``/``policy`` name the policy that decided ("DENY"/"ALLOW", "ns/name"),
    both None when a default decided (no ALLOW policy: allow; ALLOW policies, none matching: deny)."""

    allowed: bool
    action: str | None
    policy: str | None
    reason: str
    audited: tuple[str, ...] = ()


# -- binding -------------------------------------------------------------------------------------


def applies(
    policy: Mapping,
    *,
    namespace: str,
    labels: Mapping[str, str],
    enforcement: str,
    waypoint: str | None = None,
    service: str | None = None,
    root_namespace: str = ROOT_NAMESPACE,
) -> bool:
    """Is ``policy`` bound to this enforcement point?

    ``namespace``/``labels`` describe the proxied workload (a sidecar's or ztunnel's destination
    pod) or, for ``enforcement="waypoint"``, the waypoint itself: ``waypoint`` is its Gateway name
    and ``service`` the Service the traffic was addressed to (``"name"`` in ``namespace``, or
    ``"ns/name"``).
    """
    if enforcement not in ENFORCEMENTS:
        raise ValueError(f"enforcement {enforcement!r}: expected one of {', '.join(ENFORCEMENTS)}")
    spec, pns = policy.get("spec") or {}, policy["namespace"]
    refs = _target_refs(policy)
    if enforcement != "waypoint":
        if refs:  # sidecars ignore them; istiod sends ztunnel none
            return False
        if pns not in (root_namespace, namespace):
            return False
        want = (spec.get("selector") or {}).get("matchLabels") or {}
        return all(labels.get(k) == v for k, v in want.items())
    svc_ns, _, svc_name = (service or "").rpartition("/")
    svc_ns = svc_ns or namespace
    for ref in refs:  # no targetRefs: a waypoint ignores the policy
        kind, group, name = ref.get("kind"), ref.get("group") or "", ref.get("name")
        if kind == "Service" and group in ("", "core") and service and name == svc_name and pns == svc_ns:
            return True
        if (
            kind == "GatewayClass"
            and group == GATEWAY_GROUP
            and name == WAYPOINT_CLASS
            and pns == root_namespace
        ):
            return True
        if (
            kind == "Gateway"
            and group == GATEWAY_GROUP
            and waypoint
            and name == waypoint
            and pns == namespace
            and ref.get("namespace") in (None, "", namespace)
        ):
            return True
    return False


# -- decision ------------------------------------------------------------------------------------


def decide(policies: Iterable[Mapping], attrs: Attributes, layer: str = "L7") -> Decision:
    """CUSTOM (skipped) -> DENY -> ALLOW, for policies already bound here (see :func:`applies`).

    ``layer`` is ``"L7"`` (sidecar/waypoint HTTP), ``"TCP"`` (sidecar, TCP port) or ``"L4"`` (ztunnel);
    see the module docstring; at ``"L4"`` AUDIT and targetRefs policies are skipped, as ztunnel never
    gets them. The verdict does not depend on the order of ``policies``.
    """
    if layer not in LAYERS:
        raise ValueError(f"layer {layer!r}: expected one of {', '.join(LAYERS)}")
    by_action: dict[str, list[tuple[str, list]]] = {"ALLOW": [], "DENY": [], "AUDIT": []}
    narrowed, empty = [], []
    for policy in sorted(policies, key=_name):
        action = _action(policy)
        if action == "CUSTOM" or (layer == "L4" and (action == "AUDIT" or _target_refs(policy))):
            continue
        rules, found = _layer_rules(policy, layer)
        by_action[action].append((policy, rules))
        if action == "ALLOW" and found:
            narrowed.append(_name(policy))
        if action == "ALLOW" and not (policy.get("spec") or {}).get("rules"):
            empty.append(_name(policy))

    audited = tuple(_name(p) for p, rules in by_action["AUDIT"] if first_match(p, rules, attrs) is not None)
    for p, rules in by_action["DENY"]:
        i = first_match(p, rules, attrs)
        if i is not None:
            return Decision(False, "DENY", _name(p), f"DENY policy {_name(p)} matched (rules[{i}])", audited)
    if not by_action["ALLOW"]:
        return Decision(
            True, None, None, "no ALLOW policy applies here, so what is not denied is allowed", audited
        )
    for p, rules in by_action["ALLOW"]:
        i = first_match(p, rules, attrs)
        if i is not None:
            return Decision(True, "ALLOW", _name(p), f"ALLOW policy {_name(p)} matched (rules[{i}])", audited)
    names = ", ".join(_name(p) for p, _ in by_action["ALLOW"])
    reason = f"implicit deny: ALLOW policies apply ({names}) but none matched"
    if empty:
        reason += f"; {', '.join(empty)} has no rules, so it allows nothing"
    if narrowed:
        where = "ztunnel" if layer == "L4" else "a TCP filter"
        reason += f"; {where} drops ALLOW rules that use HTTP attributes ({', '.join(narrowed)})" + (
            ": HTTP rules need a waypoint" if layer == "L4" else ""
        )
    return Decision(False, None, None, reason, audited)


def for_ztunnel(policy: Mapping) -> tuple[dict | None, str | None]:
    """The policy as ztunnel enforces it after istiod's conversion, and Istio's status warning.

    None when ztunnel does not enforce it at all: targetRefs policies (meant for waypoints), AUDIT
    and CUSTOM ("ztunnel does not support the AUDIT action"), and a DENY left with nothing
    enforceable. Dropped rules, sources and operations disappear from the returned ``rules``.
    """
    if _target_refs(policy):
        return None, None
    action = _action(policy)
    if action not in ("ALLOW", "DENY"):
        return None, f"ztunnel does not support the {action} action"
    rules, found = _layer_rules(policy, "L4")
    spec = dict(policy.get("spec") or {})
    if "rules" in spec:
        spec["rules"] = [r for _, r in rules]
    converted = {**policy, "spec": spec}
    if not found:
        return converted, None
    if action == "DENY" and not rules:
        return None, _HTTP_RULE_FMT.format(", ".join(found), _DENY_NO_EFFECT)
    return converted, _HTTP_RULE_FMT.format(
        ", ".join(found), _DENY_MIXED if action == "DENY" else _ALLOW_DROPPED
    )


def unsupported(policy: Mapping) -> str | None:
    """What meshlab cannot evaluate in this policy (CUSTOM, path templates, JWT keys), or None."""
    problems = []
    if _action(policy) == "CUSTOM":
        problems.append(
            "action CUSTOM hands the decision to an external authorizer, which meshlab does "
            "not run; the policy is ignored"
        )
    for i, rule in enumerate((policy.get("spec") or {}).get("rules") or []):
        for j, cond in enumerate((rule or {}).get("when") or []):
            try:
                check_when_key(cond.get("key", ""))
            except ValueError as e:
                problems.append(f"rules[{i}].when[{j}]: {e}")
        for j, to in enumerate((rule or {}).get("to") or []):
            op = to.get("operation") or {}
            for f in ("paths", "notPaths"):
                for p in op.get(f) or []:
                    if "{" in p:
                        problems.append(
                            f"rules[{i}].to[{j}].operation.{f}: path template {p!r} "
                            "({*}, {**}) is not supported by meshlab"
                        )
    return f"AuthorizationPolicy {_name(policy)}: " + "; ".join(problems) if problems else None


# -- layers --------------------------------------------------------------------------------------


def _layer_rules(policy: Mapping, layer: str) -> tuple[list[tuple[int, dict]], list[str]]:
    """The rules in force at ``layer`` as (index in spec.rules, rule), and the HTTP attributes found."""
    rules = [r or {} for r in (policy.get("spec") or {}).get("rules") or []]
    if layer == "L7":
        return list(enumerate(rules)), []
    action, found, kept = _action(policy), set(), []
    for i, rule in enumerate(rules):
        new, http, fires = _convert_rule(rule, layer)
        found |= http
        if http and action == "ALLOW":  # "L7 policies never match for ALLOW"
            continue
        if fires:
            kept.append((i, new))
    return kept, sorted(found)


def _convert_rule(rule: Mapping, layer: str) -> tuple[dict, set[str], bool]:
    """(rule without what ``layer`` cannot see, the HTTP attributes removed, can it still match)."""
    found, new, fires = set(), {}, True
    for part, inner, hidden in (
        ("from", "source", _HTTP_SOURCE[layer]),
        ("to", "operation", _HTTP_OPERATION),
    ):
        items = rule.get(part) or []
        if not items:
            continue
        out = []
        for item in items:
            body = item.get(inner) or {}
            found |= {k for k in hidden if body.get(k)}
            kept = {k: v for k, v in body.items() if k not in hidden and v}
            if kept or layer == "TCP":  # Envoy: empty = match-all; ztunnel: skipped (match-none)
                out.append({inner: kept})
        if out:
            new[part] = out
        else:
            fires = False
    conds = []
    for cond in rule.get("when") or []:
        key = cond["key"]
        visible = (
            key in L4_WHEN_KEYS if layer == "L4" else not key.startswith(("request.headers", "request.auth."))
        )
        if visible:
            conds.append(cond)
        else:
            found.add(key)
            fires = fires and layer == "TCP"  # ztunnel: an empty match never fires
    if conds:
        new["when"] = conds
    return new, found, fires


def _target_refs(policy: Mapping) -> list[Mapping]:
    spec = policy.get("spec") or {}
    return list(spec.get("targetRefs") or ([spec["targetRef"]] if spec.get("targetRef") else []))


def _action(policy: Mapping) -> str:
    action = (policy.get("spec") or {}).get("action") or "ALLOW"
    if action not in ACTIONS:
        raise ValueError(
            f"AuthorizationPolicy {_name(policy)}: action {action!r}, expected one of {', '.join(ACTIONS)}"
        )
    return action


def _name(policy: Mapping) -> str:
    return f"{policy['namespace']}/{policy['name']}"


def authorize(
    objects: Iterable,
    attrs: Attributes,
    *,
    enforcement: str,
    namespace: str,
    labels: Mapping[str, str],
    layer: str = "L7",
    waypoint: str | None = None,
    service: str | None = None,
) -> Decision:
    """The decision at one enforcement point, from the lab's policy objects
    (:class:`~meshlab.policy.loader.PolicyObject`) in force: the AuthorizationPolicies bound there,
    evaluated for ``layer``."""
    bound = [
        p
        for p in (
            {"name": o.name, "namespace": o.namespace, "spec": o.spec}
            for o in objects
            if o.kind == "AuthorizationPolicy"
        )
        if applies(
            p, namespace=namespace, labels=labels, enforcement=enforcement, waypoint=waypoint, service=service
        )
    ]
    if not bound:
        return Decision(True, None, None, "no AuthorizationPolicy applies")
    return decide(bound, attrs, layer)
