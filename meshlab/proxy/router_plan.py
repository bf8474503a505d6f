"""What the config in force decides for one request, before anything is sent: where it goes
(Envoy's route table and clusters: the VirtualService route that matches, the weighted
destination, its subset's endpoints and traffic policy — a :class:`Plan`) and whether it may
(Envoy's HTTP RBAC filter: the AuthorizationPolicies bound to the proxy).

:class:`RoutePlanner` is a part of :class:`~.router.L7Router`, which keeps its state
(``policies``, ``net``, ``pod``, the per-push cache ``_derived``) and says how to reach an
endpoint (``upstream()``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..identity import spiffe_id
from ..net.cluster import PodAddr
from ..net.http1 import Request, Response
from ..policy.authz import Decision, applies, authorize
from ..policy.authzmatch import Attributes
from ..policy.routing import (
    RequestInfo,
    RouteAction,
    RouteProxy,
    TrafficPolicy,
    compile_routes,
    destination_rule_for,
    pick_destination,
    select_route,
    subset_labels,
    traffic_policy,
    virtual_service_for,
    virtual_services_for,
)
from ..trace import TraceContext
from .metrics import peer_labels

RBAC_DENIED = b"RBAC: access denied"
DEFAULT_ROUTE = RouteAction("default route", ())
NO_POLICY = Decision(True, None, None, "no AuthorizationPolicy applies")  # what authorize() says then


@dataclass(frozen=True)
class Upstream:
    name: str  # endpoint pod (or ip:port outside the cluster)
    ip: str
    port: int
    transport: str  # "plaintext" | "mtls" | "hbone"
    identity: str | None  # the SPIFFE identity it must present (mtls, hbone)
    node: str | None = None


@dataclass(frozen=True)
class Plan:
    """A request's route: the Envoy-style cluster name, the service, the route action, the
    endpoints and the traffic policy — or a ``flag`` (``NR`` no route, ``NC`` no cluster)."""

    cluster: str
    service: str | None
    action: RouteAction | None
    upstreams: list
    policy: TrafficPolicy
    flag: str | None = None


class RoutePlanner:
    """Route and authorize a request as the config in force says (see the module docstring)."""

    def derived(self, key: tuple, compute):
        """What the config in force says for ``key`` (a service's routes, a cluster's traffic
        policy ...), computed once per config push rather than per request."""
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = compute()
            return value

    def source_pod(self, server_fields: dict) -> PodAddr | None:
        """The workload that sent the request, when the role knows it (for ``sourceLabels``)."""
        return None

    def source_labels(self, server_fields: dict) -> dict[str, str]:
        """``source_*`` metric labels for a request this proxy routes (the role knows its client)."""
        return peer_labels(
            "source", self.source_pod(server_fields), server_fields.get("peer_identity"), peer=True
        )

    def pod_identity(self, pod: PodAddr) -> str:
        return spiffe_id(pod.namespace, pod.service_account)

    def rbac(
        self,
        req: Request,
        port: int,
        peer_id: str | None,
        peer,
        dst_ip: str,
        sni: str | None = None,
        **binding,
    ) -> Decision:
        """Envoy's HTTP RBAC filter: the AuthorizationPolicies bound to this proxy (``binding``:
        ``enforcement`` and, for a waypoint, ``waypoint`` and ``service``), for one request;
        ``sni`` is the server name the client's TLS asked for (``connection.sni``)."""
        key = ("authz-bound", *sorted(binding.items()))
        bound = self._derived.get(key)
        if bound is None:  # whether any policy is bound here: once per config push
            bound = self.derived(
                key,
                lambda: any(
                    o.kind == "AuthorizationPolicy"
                    and applies(
                        {"name": o.name, "namespace": o.namespace, "spec": o.spec},
                        namespace=self.pod.namespace,
                        labels=self.pod.labels,
                        **binding,
                    )
                    for o in self.policies
                ),
            )
        if not bound:
            return NO_POLICY
        return authorize(
            self.policies,
            Attributes(
                destination_port=port,
                source_principal=peer_id,
                source_ip=peer[0] if peer else None,
                destination_ip=dst_ip,
                host=req.header("host"),
                method=req.method,
                path=req.target,
                headers=req.header_map,
                sni=sni,
            ),
            namespace=self.pod.namespace,
            labels=self.pod.labels,
            **binding,
        )

    def rbac_denied(
        self, req: Request, ctx: TraceContext, span_id: str, start: float, decision: Decision, **fields
    ) -> Response:
        """The 403 of a denied request, and its server span marked ``deny`` with the reason."""
        self.emit(
            ctx,
            span_id,
            "server",
            start,
            403,
            target=f"{req.method} {req.target}",
            decision="deny",
            **{**fields, "attrs": {**fields.get("attrs", {}), "rbac": decision.reason}},
        )
        return Response(403, [("content-type", "text/plain")], RBAC_DENIED)

    def request_info(self, req: Request, server_fields: dict) -> RequestInfo:
        src = self.source_pod(server_fields)
        return RequestInfo(
            req.method,
            req.target,
            req.header_map,
            req.header("host") or "",
            src.labels if src else {},
            src.namespace if src else None,
        )

    def plan(self, req: Request, dst_ip: str, dst_port: int, server_fields: dict) -> "Plan":
        """Where a request goes (Envoy's route table + clusters): the VirtualService route that
        matches, the weighted destination, its subset's endpoints and traffic policy."""
        svc = self.net.service_at(dst_ip, dst_port)
        if svc is None:  # addressed to a pod (or outside the cluster)
            pod = self.net.pod_by_ip(dst_ip)
            if pod is not None:
                return Plan(
                    pod.name,
                    None,
                    DEFAULT_ROUTE,
                    [self.upstream(pod, dst_port, TrafficPolicy())],
                    TrafficPolicy(),
                )
            up = Upstream(f"{dst_ip}:{dst_port}", dst_ip, dst_port, "plaintext", None)
            return Plan(f"{dst_ip}:{dst_port}", None, DEFAULT_ROUTE, [up], TrafficPolicy())
        routes = self._derived.get(("routes", svc.fqdn))
        if routes is None:
            proxy = RouteProxy(self.pod.namespace, self.pod.labels, waypoint=self.role == "waypoint")
            routes = self.derived(
                ("routes", svc.fqdn),
                lambda: compile_routes(
                    virtual_services_for(self.policies, svc.fqdn, proxy)
                    if proxy.waypoint  # a waypoint merges them
                    else virtual_service_for(self.policies, svc.fqdn, proxy),
                    svc.fqdn,
                    proxy,
                ),
            )
        if routes and any(not block for block in routes[0][0]):
            action = routes[0][1]  # the first route matches every request
        else:
            action = select_route(routes, self.request_info(req, server_fields))
        if action is None:
            return Plan(svc.fqdn, svc.fqdn, None, [], TrafficPolicy(), flag="NR")
        dest = pick_destination(action.destinations, self.rng)
        dsvc = self.net.service_by_fqdn(dest.host, dest.port or (svc.port if dest.host == svc.fqdn else None))
        if dsvc is None:
            return Plan(dest.host, dest.host, action, [], TrafficPolicy(), flag="NC")
        key = ("cluster", dsvc.fqdn, dsvc.port, dest.subset)
        cluster = self._derived.get(key)
        if cluster is None:
            cluster = self.derived(key, lambda: self._cluster(dsvc, dest.subset))
        name, ups, tp, flag = cluster
        return Plan(name, dsvc.fqdn, action, ups, tp, flag=flag)

    def _cluster(self, dsvc, subset: str | None) -> tuple:
        """Envoy's cluster for a service (and subset), as the config in force and the net say:
        (name, endpoints as upstreams, traffic policy, ``NC`` when the subset is not defined)."""
        cluster = f"outbound|{dsvc.port}|{subset or ''}|{dsvc.fqdn}"
        dr = self.derived(
            ("dr", dsvc.fqdn), lambda: destination_rule_for(self.policies, dsvc.fqdn, self.pod.namespace)
        )
        pods = [self.net.pod(n) for n in dsvc.endpoints]
        if subset:
            labels = subset_labels(dr, subset)
            if labels is None:  # no DestinationRule defines the subset
                return cluster, [], TrafficPolicy(), "NC"
            pods = [p for p in pods if all(p.labels.get(k) == v for k, v in labels.items())]
        tp = self.derived(("tp", dsvc.fqdn, subset), lambda: traffic_policy(dr, subset))
        return cluster, [self.upstream(p, dsvc.target_port, tp) for p in pods], tp, None
