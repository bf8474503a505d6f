"""The registry of policy kinds: kind -> its module's :class:`~.handler.KindHandler`.

The loader (:mod:`.loader`) looks a document's ``kind`` up here for the apiVersions it accepts and
the validator to run; :func:`compiled` and :func:`from_records` compile objects with their kind's
``compile`` (on apply, and in each proxy on every config push); :mod:`.store` asks the kind's
``check``. Adding a kind is one module with a ``HANDLER`` and one line below.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from . import authorizationpolicy, destinationrule, enrollment, gateway, httproute, peerauth, virtualservice
from .handler import KindHandler
from .objects import PolicyObject

REGISTRY: dict[str, KindHandler] = {
    h.kind: h
    for h in (
        virtualservice.HANDLER,
        destinationrule.HANDLER,
        peerauth.HANDLER,
        authorizationpolicy.HANDLER,
        gateway.HANDLER,
        httproute.HANDLER,
        enrollment.NAMESPACE,
        enrollment.SERVICE,
    )
}
#: Kinds of the real APIs meshlab does not build: named when applied, never ignored.
UNSUPPORTED_KINDS = {
    "ServiceEntry": "the lab has no traffic leaving the cluster",
    "Sidecar": "not built",
    "EnvoyFilter": "the lab's proxies are not Envoy",
    "WorkloadEntry": "not built",
    "RequestAuthentication": "JWT is not built",
    "Telemetry": "not built",
    "WasmPlugin": "not built",
    "ProxyConfig": "not built",
    "GRPCRoute": "not built",
    "TCPRoute": "not built",
    "ReferenceGrant": "not built",
    "Deployment": "workloads come from the topology",
    "Pod": "workloads come from the topology",
}


def handler(kind: str) -> KindHandler:
    return REGISTRY[kind]


def compiled(o: PolicyObject) -> PolicyObject:
    """``o`` with its kind's compiled value (``o`` itself when its kind compiles to nothing or it
    is compiled already)."""
    h = REGISTRY[o.kind]
    if h.compile is None or o.compiled is not None:
        return o
    return replace(o, compiled=h.compile(o))


def from_records(records: Iterable[dict]) -> list[PolicyObject]:
    """The objects a proxy gets on a config push, compiled once, there and then."""
    return [compiled(PolicyObject.from_record(r)) for r in records]
