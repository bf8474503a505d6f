"""Host names as Istio's routing objects write them, resolved as istiod resolves them. Pure.

Shared by the kinds that name services (:mod:`.virtualservice`, :mod:`.destinationrule`,
:mod:`.httproute`) and by route evaluation (:mod:`.routing`).
"""

from __future__ import annotations

from typing import Iterable

from ..topology.model import CLUSTER_DOMAIN


def fqdn(host: str, namespace: str) -> str:
    """A host as a VirtualService or DestinationRule writes it, as istiod reads it
    (``ResolveShortnameToFQDN`` in ``pilot/pkg/model/config.go``): a name with no dot is relative
    to the object's own namespace (``reviews`` -> ``reviews.<ns>.svc.cluster.local``); anything
    else — ``reviews.default`` too, ``*`` and IP addresses — is taken as written."""
    if host == "*" or "." in host or ":" in host:
        return host
    return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"


def service_fqdn(name: str, namespace: str) -> str:
    """A Kubernetes Service by name and namespace (a Gateway API ``parentRef`` or ``backendRef``)."""
    return f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}"


def short_name_hint(host: str, services: Iterable[str]) -> str:
    """For a dotted host that names no service but would if expanded: what to write instead."""
    if "." not in host or host.endswith(f".svc.{CLUSTER_DOMAIN}"):
        return ""
    for full in (f"{host}.svc.{CLUSTER_DOMAIN}", f"{host}.{CLUSTER_DOMAIN}"):
        if full in services:
            return (
                f" (Istio expands only a name with no dot; {host!r} is taken as written: write "
                f"{host.split('.')[0]!r} in namespace {full.split('.')[1]} or {full!r})"
            )
    return ""


def host_matches(pattern: str, service_fqdn: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return service_fqdn.endswith(pattern[1:])
    return pattern == service_fqdn


def exported_to(o, namespace: str | None) -> bool:
    """Does ``o``'s ``exportTo`` let proxies in ``namespace`` see it? Unset or ``*``: everyone;
    ``.``: its own namespace only. (``namespace`` None: no proxy in mind, everyone.)"""
    export = o.spec.get("exportTo")
    return namespace is None or not export or "*" in export or ("." in export and o.namespace == namespace)
