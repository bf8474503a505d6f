"""PeerAuthentication (``security.istio.io``): validated, evaluated, checked, written. Pure.

It compiles to nothing: :func:`mtls_mode` reads the checked ``spec`` (a mode per level and port),
and each proxy keeps its answers per config push. Evaluated: which mTLS mode a workload's inbound
port is under.

ISTIO-FACTS §4.3: the narrowest policy wins — a workload policy (``selector``, with
``portLevelMtls`` for single ports) over the namespace's policy (no selector) over the mesh-wide
one (in the root namespace ``istio-system``). ``UNSET`` inherits from the next wider level; with
nothing set the mode is ``PERMISSIVE``. When two policies compete at one level, the oldest wins.

In ambient mode ztunnel enforces PeerAuthentication as istiod converts it
(``pilot/pkg/serviceregistry/ambient/authorization.go``), which :func:`ambient_strict` follows
line by line: only STRICT exists there — a DENY rule for connections with no peer identity —
and every other mode is "not STRICT". So ``DISABLE`` behaves as ``PERMISSIVE``: a namespace's
DISABLE cancels a mesh-wide STRICT, as a PERMISSIVE one would (``convertedSelectorPeerAuthentications``
sets "effective strict" from the namespace's mode unless it is UNSET). It does not turn mTLS off:
ztunnel tunnels mesh traffic whatever the policy. Istio's docs say DISABLE policies "will be
ignored" in ambient; the code treats them as PERMISSIVE, and the lab follows the code. The
conversion's corners are kept too: a port-level ``DISABLE`` (unlike a port-level PERMISSIVE) does
not open a port of a workload policy with no mode under a STRICT namespace or mesh, and a
port-level STRICT under a PERMISSIVE workload policy is dropped when only the mesh-wide policy is
STRICT.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..yamlnode import YamlNode
from .authz import ROOT_NAMESPACE
from .handler import Document, KindHandler, selector
from .objects import PolicyObject, panel_meta

API_VERSIONS = ("security.istio.io/v1", "security.istio.io/v1beta1")
MTLS_MODES = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")
#: The mesh-wide modes the control panel offers, in its order.
PANEL_MODES = ("UNSET", "PERMISSIVE", "STRICT", "DISABLE")


def validate(spec: YamlNode | None, doc: Document) -> None:
    s = doc.spec(spec, empty_ok=True).mapping((), ("selector", "mtls", "portLevelMtls"))
    if "selector" in s:
        selector(s["selector"])
    if "mtls" in s:
        s["mtls"].mapping((), ("mode",))
        if "mode" in s["mtls"].mapping():
            s["mtls"].at_key("mode").string(MTLS_MODES)
    if "portLevelMtls" in s:
        if "selector" not in s:
            raise s["portLevelMtls"].error(
                "portLevelMtls needs a selector (Istio: it applies to workloads selected by the policy)"
            )
        for port, v in s["portLevelMtls"].free_mapping().items():
            if not str(port).isdigit() or not 1 <= int(port) <= 65535:
                raise v.error(f"{port!r} is not a port number (1 to 65535)")
            v.mapping(("mode",))["mode"].string(MTLS_MODES)


def check(o: PolicyObject, lab, store) -> list[str]:
    """DISABLE for ambient workloads acts as PERMISSIVE: say so."""
    modes = [(o.spec.get("mtls") or {}).get("mode")] + [
        v.get("mode") for v in (o.spec.get("portLevelMtls") or {}).values()
    ]
    ambient = [
        p
        for p in lab.topology.pods
        if lab.mesh.get(p.name) == "ambient" and (o.namespace in (p.namespace, ROOT_NAMESPACE))
    ]
    if "DISABLE" in modes and ambient:
        return [
            f"{o}: for ambient workloads ({', '.join(p.name for p in ambient[:3])}"
            f"{'...' if len(ambient) > 3 else ''}) DISABLE acts as PERMISSIVE: istiod's conversion "
            "for ztunnel knows only STRICT and not-STRICT, so it lifts a wider STRICT and lets "
            "plaintext in; ztunnel still tunnels mesh traffic. (Istio's docs say such policies "
            "are ignored; istiod's code treats them as PERMISSIVE.)"
        ]
    return []


def peer_authentication(mode: str) -> dict | None:
    """A mesh-wide PeerAuthentication (root namespace) in ``mode``; None for UNSET (no object:
    Istio's default, PERMISSIVE)."""
    if mode not in PANEL_MODES:
        raise ValueError(f"unknown mTLS mode {mode!r}; allowed: {', '.join(PANEL_MODES)}")
    if mode == "UNSET":
        return None
    return {
        "apiVersion": API_VERSIONS[0],
        "kind": "PeerAuthentication",
        "metadata": panel_meta("default", ROOT_NAMESPACE),
        "spec": {"mtls": {"mode": mode}},
    }


def selects(obj: PolicyObject, namespace: str, labels: Mapping[str, str]) -> bool:
    """Does a policy with an optional ``selector.matchLabels`` apply to this workload (same
    namespace, or any namespace for a policy in the root namespace)?"""
    if obj.namespace != namespace and obj.namespace != ROOT_NAMESPACE:
        return False
    want = (obj.spec.get("selector") or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in want.items())


def mtls_mode(
    objects: Iterable[PolicyObject],
    namespace: str,
    labels: Mapping[str, str],
    port: int | None = None,
    ambient: bool = False,
) -> tuple[str, str]:
    """(``STRICT`` | ``PERMISSIVE`` | ``DISABLE``, the policy that decided it) for one port. In
    ambient mode (``ambient=True``): ``STRICT`` or ``PERMISSIVE``, as ztunnel enforces it
    (:func:`ambient_strict`)."""
    if ambient:
        return ambient_strict(objects, namespace, labels, port)
    pas = [o for o in objects if o.kind == "PeerAuthentication"]
    levels = [
        [
            o
            for o in pas
            if o.namespace == namespace and o.spec.get("selector") and selects(o, namespace, labels)
        ],
        [o for o in pas if o.namespace == namespace and not o.spec.get("selector")],
        [o for o in pas if o.namespace == ROOT_NAMESPACE and not o.spec.get("selector")],
    ]
    for level in levels:
        for o in level[:1]:  # Istio keeps the oldest when two compete
            mode = None
            if port is not None:
                mode = (
                    (o.spec.get("portLevelMtls") or {}).get(str(port))
                    or (o.spec.get("portLevelMtls") or {}).get(port)
                    or {}
                ).get("mode")
            if mode in (None, "UNSET"):
                mode = (o.spec.get("mtls") or {}).get("mode")
            if mode not in (None, "UNSET"):
                return mode, f"PeerAuthentication {o.namespace}/{o.name}"
    return "PERMISSIVE", "default (PERMISSIVE)"


def admits(mode: str, tls: bool) -> bool:
    """Does an inbound listener in ``mode`` take a connection that is (or is not) mTLS? STRICT
    takes only mTLS, DISABLE only plaintext (it has no TLS to offer), PERMISSIVE both."""
    return not ((mode == "STRICT" and not tls) or (mode == "DISABLE" and tls))


# -- ambient: istiod's conversion for ztunnel ---------------------------------------------------------


def _mode(o: PolicyObject | None) -> str | None:
    """The policy's top-level mode; None for no policy. No ``mtls`` (or no mode) is ``UNSET``."""
    if o is None:
        return None
    return (o.spec.get("mtls") or {}).get("mode") or "UNSET"


def _ports(o: PolicyObject) -> dict[int, str]:
    return {int(p): (v or {}).get("mode") or "UNSET" for p, v in (o.spec.get("portLevelMtls") or {}).items()}


def ambient_strict(
    objects: Iterable[PolicyObject], namespace: str, labels: Mapping[str, str], port: int | None = None
) -> tuple[str, str]:
    """(``STRICT`` | ``PERMISSIVE``, why) for a plaintext connection to ``port`` of an ambient
    workload, as ztunnel decides it from what istiod sends: the static STRICT policy when the
    effective mode is STRICT (``convertedSelectorPeerAuthentications``), and the workload policy's
    port-level DENY rules (``convertPeerAuthentication``) — both transcribed here."""
    pas = [o for o in objects if o.kind == "PeerAuthentication"]
    has_selector = lambda o: bool(((o.spec.get("selector") or {}).get("matchLabels")))
    mesh = next((o for o in pas if o.namespace == ROOT_NAMESPACE and not has_selector(o)), None)
    ns = next((o for o in pas if o.namespace == namespace != ROOT_NAMESPACE and not has_selector(o)), None)
    wl = next(
        (
            o
            for o in pas
            if o.namespace == namespace != ROOT_NAMESPACE
            and has_selector(o)
            and selects(o, namespace, labels)
        ),
        None,
    )
    name = lambda o: f"PeerAuthentication {o.namespace}/{o.name}"

    # convertedSelectorPeerAuthentications: is the static STRICT policy attached?
    strict, why = _mode(mesh) == "STRICT", name(mesh) if mesh else "default (PERMISSIVE)"
    if ns is not None and _mode(ns) != "UNSET":
        strict, why = _mode(ns) == "STRICT", name(ns)
    port_policy = False
    if wl is not None:
        wmode, ports = _mode(wl), _ports(wl)
        if wmode != "UNSET":
            strict, why = wmode == "STRICT", name(wl)
        if ports:
            if wmode == "STRICT":
                if any(m in ("PERMISSIVE", "DISABLE") for m in ports.values()):
                    port_policy, strict = True, False
            elif wmode in ("PERMISSIVE", "DISABLE"):
                port_policy = any(m == "STRICT" for m in ports.values())
            elif strict:  # UNSET under a STRICT namespace or mesh
                if any(m == "PERMISSIVE" for m in ports.values()):  # (DISABLE is not looked for)
                    port_policy, strict = True, False
            else:
                port_policy = any(m == "STRICT" for m in ports.values())
    if strict:
        return "STRICT", why
    if port_policy and port is not None and _port_denies(wl, ns, mesh, port):
        return "STRICT", f"{name(wl)} (port {port})"
    return "PERMISSIVE", why


def _port_denies(wl: PolicyObject, ns: PolicyObject | None, mesh: PolicyObject | None, port: int) -> bool:
    """Does the DENY policy ``convertPeerAuthentication`` makes of ``wl`` refuse a connection with
    no peer identity to ``port``? Its groups are ORed; a group's rules are ANDed."""
    wmode, ns_mode, mesh_mode = _mode(wl), _mode(ns), _mode(mesh)
    groups: list[bool] = []  # does each group match this connection?
    rules: list[bool] = []  # does each rule of the last group match it?
    if wmode == "STRICT":
        rules.append(True)  # no peer identity
    found_non_strict = False
    for p, m in _ports(wl).items():
        if m == "STRICT":
            # Go: strict(wl) || (unset(wl) && strict(ns)) || ((ns == nil || unset(ns)) && strict(mesh))
            if (
                wmode == "STRICT"
                or (wmode == "UNSET" and ns_mode == "STRICT")
                or (ns_mode in (None, "UNSET") and mesh_mode == "STRICT")
            ):
                continue  # "enforced by the parent policy"
            groups.append(p == port)
        elif m in ("PERMISSIVE", "DISABLE"):
            if wmode in ("PERMISSIVE", "DISABLE"):
                continue
            if wmode == "UNSET" and (
                (ns_mode is not None and ns_mode != "STRICT")
                or (ns_mode is None and mesh_mode is not None and mesh_mode != "STRICT")
                or (ns_mode is None and mesh_mode is None)
            ):
                continue
            found_non_strict = True
            rules.append(p != port)  # notDestinationPorts: [p]
    if wmode == "STRICT" and not found_non_strict:
        return False  # plain STRICT: the static policy covers it
    merge = (mesh_mode == "STRICT" and ns_mode in (None, "UNSET", "STRICT")) or ns_mode == "STRICT"
    if merge and found_non_strict:
        rules.append(True)
    if rules:
        groups.append(all(rules))
    return any(groups)


HANDLER = KindHandler("PeerAuthentication", API_VERSIONS, validate, None, check)
