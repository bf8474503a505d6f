"""PeerAuthentication, evaluated: which mTLS mode a workload's inbound port is under. Pure.

ISTIO-FACTS §4.3: the narrowest policy wins — a workload policy (``selector``, with
``portLevelMtls`` for single ports) over the namespace's policy (no selector) over the mesh-wide
one (in the root namespace ``istio-system``). ``UNSET`` inherits from the next wider level; with
nothing set the mode is ``PERMISSIVE``. In ambient mode ``DISABLE`` "will be ignored"
(the lab says so when such a policy is applied, and treats it as unset there).
"""

from __future__ import annotations

from typing import Iterable, Mapping

from .loader import ROOT_NAMESPACE, PolicyObject


def selects(obj: PolicyObject, namespace: str, labels: Mapping[str, str]) -> bool:
    """Does a policy with an optional ``selector.matchLabels`` apply to this workload (same
    namespace, or any namespace for a policy in the root namespace)?"""
    if obj.namespace != namespace and obj.namespace != ROOT_NAMESPACE:
        return False
    want = (obj.spec.get("selector") or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in want.items())


def mtls_mode(objects: Iterable[PolicyObject], namespace: str, labels: Mapping[str, str], port: int | None = None,
              ambient: bool = False) -> tuple[str, str]:
    """(``STRICT`` | ``PERMISSIVE`` | ``DISABLE``, the policy that decided it) for one port."""
    pas = [o for o in objects if o.kind == "PeerAuthentication"]
    levels = [
        [o for o in pas if o.namespace == namespace and o.spec.get("selector") and selects(o, namespace, labels)],
        [o for o in pas if o.namespace == namespace and not o.spec.get("selector")],
        [o for o in pas if o.namespace == ROOT_NAMESPACE and not o.spec.get("selector")],
    ]
    for level in levels:
        for o in level[:1]:                      # Istio keeps the oldest when two compete
            mode = None
            if port is not None:
                mode = ((o.spec.get("portLevelMtls") or {}).get(str(port)) or
                        (o.spec.get("portLevelMtls") or {}).get(port) or {}).get("mode")
            if mode in (None, "UNSET"):
                mode = (o.spec.get("mtls") or {}).get("mode")
            if mode == "DISABLE" and ambient:
                mode = None                      # "such policies will be ignored" in ambient
            if mode not in (None, "UNSET"):
                return mode, f"PeerAuthentication {o.namespace}/{o.name}"
    return "PERMISSIVE", "default (PERMISSIVE)"


def admits(mode: str, tls: bool) -> bool:
    """Does an inbound listener in ``mode`` take a connection that is (or is not) mTLS? STRICT
    takes only mTLS, DISABLE only plaintext (it has no TLS to offer), PERMISSIVE both."""
    return not ((mode == "STRICT" and not tls) or (mode == "DISABLE" and tls))
