"""Istio's standard metrics, with Istio's names and labels, in Prometheus text (prometheus_client).

L7 proxies (sidecar, waypoint) report ``istio_requests_total`` and the request duration and size
histograms; ztunnel reports only TCP metrics (``istio_tcp_*``): it never sees a request. Label
values that are not known are ``unknown``, as in Istio; ``connection_security_policy`` is
``unknown`` when the *source* reports (ISTIO-FACTS §5).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest

disable_created_metrics()       # Istio's proxies expose no *_created series

from ..identity import principal, spiffe_id
from ..net.cluster import ClusterNet, PodAddr

PEER_LABELS = ("source_workload", "source_workload_namespace", "source_principal", "source_app", "source_version",
               "destination_workload", "destination_workload_namespace", "destination_principal",
               "destination_app", "destination_version", "destination_service", "destination_service_name",
               "destination_service_namespace")
HTTP_LABELS = ("reporter", *PEER_LABELS, "request_protocol", "response_code", "response_flags",
               "connection_security_policy")
TCP_LABELS = ("reporter", *PEER_LABELS, "request_protocol", "response_flags", "connection_security_policy")
#: Istio's default buckets for istio_request_duration_milliseconds.
DURATION_BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
                    600000, 1800000, 3600000)
SIZE_BUCKETS = (1, 10, 100, 1000, 10000, 100000, 1000000, 10000000)


def workload_of(pod_name: str) -> str:
    return pod_name.rsplit("-", 1)[0] if pod_name.rsplit("-", 1)[-1].isdigit() else pod_name


def peer_labels(side: str, pod: PodAddr | None, identity: str | None = None, *, peer: bool = False) -> dict[str, str]:
    """``source_*`` or ``destination_*`` labels for a pod (or just an identity). For the peer
    of a connection (``peer=True``) the principal is what its certificate proved, or
    ``unknown`` when it proved nothing (plaintext), as Istio reports it."""
    if peer and identity is None:
        return {**peer_labels(side, pod), f"{side}_principal": "unknown"}
    if pod is None:
        return {f"{side}_workload": "unknown", f"{side}_workload_namespace": "unknown",
                f"{side}_principal": principal(identity) if identity else "unknown",
                f"{side}_app": "unknown", f"{side}_version": "unknown"}
    return {f"{side}_workload": workload_of(pod.name), f"{side}_workload_namespace": pod.namespace,
            f"{side}_principal": principal(identity or spiffe_id(pod.namespace, pod.service_account)),
            f"{side}_app": pod.labels.get("app", "unknown"), f"{side}_version": pod.labels.get("version", "unknown")}


def service_labels(net: ClusterNet, fqdn: str | None) -> dict[str, str]:
    for s in net.services:
        if s.fqdn == fqdn:
            return {"destination_service": s.fqdn, "destination_service_name": s.name,
                    "destination_service_namespace": s.namespace}
    return {"destination_service": fqdn or "unknown", "destination_service_name": "unknown",
            "destination_service_namespace": "unknown"}


class ProxyMetrics:
    def __init__(self, l7: bool):
        self.registry = CollectorRegistry()
        self.l7 = l7
        self._children: dict[tuple, tuple] = {}
        self._tally: dict[tuple, list[int]] = {}
        if l7:
            self.requests = Counter("istio_requests", "Requests handled", HTTP_LABELS, registry=self.registry)
            self.duration = Histogram("istio_request_duration_milliseconds", "Request duration", HTTP_LABELS,
                                      buckets=DURATION_BUCKETS, registry=self.registry)
            self.req_bytes = Histogram("istio_request_bytes", "Request body sizes", HTTP_LABELS,
                                       buckets=SIZE_BUCKETS, registry=self.registry)
            self.resp_bytes = Histogram("istio_response_bytes", "Response body sizes", HTTP_LABELS,
                                        buckets=SIZE_BUCKETS, registry=self.registry)
        self.opened = Counter("istio_tcp_connections_opened", "TCP connections opened", TCP_LABELS, registry=self.registry)
        self.closed = Counter("istio_tcp_connections_closed", "TCP connections closed", TCP_LABELS, registry=self.registry)
        self.sent = Counter("istio_tcp_sent_bytes", "Bytes sent to the peer", TCP_LABELS, registry=self.registry)
        self.received = Counter("istio_tcp_received_bytes", "Bytes received from the peer", TCP_LABELS,
                                registry=self.registry)

    @staticmethod
    def label_values(labels: dict[str, str]) -> tuple:
        """``labels`` as :data:`HTTP_LABELS` values, in order (missing ones ``unknown``)."""
        return tuple(labels.get(k, "unknown") for k in HTTP_LABELS)

    def request(self, labels: dict[str, str], duration_ms: float, request_bytes: int, response_bytes: int) -> None:
        self.request_values(self.label_values(labels), duration_ms, request_bytes, response_bytes)

    def request_values(self, key: tuple, duration_ms: float, request_bytes: int, response_bytes: int) -> None:
        """One request, its labels given as :meth:`label_values`."""
        children = self._children.get(key)
        if children is None:                  # label lookups are the costly part: once per label set
            children = self._children[key] = tuple(m.labels(*key) for m in (
                self.requests, self.duration, self.req_bytes, self.resp_bytes))
        requests, duration, req_bytes, resp_bytes = children
        requests.inc()
        duration.observe(duration_ms)
        req_bytes.observe(request_bytes)
        resp_bytes.observe(response_bytes)

    def _tcp(self, labels: dict[str, str]) -> tuple:
        """The TCP metrics' children for ``labels`` (looked up once per label set, as for requests)."""
        key = ("tcp", *(labels.get(k, "unknown") for k in TCP_LABELS))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = tuple(m.labels(*key[1:]) for m in (
                self.opened, self.closed, self.sent, self.received))
        return children

    def opened_connection(self, labels: dict[str, str]) -> None:
        self._tcp(labels)[0].inc()

    def closed_connection(self, labels: dict[str, str], sent: int, received: int) -> None:
        _, closed, sent_bytes, received_bytes = self._tcp(labels)
        closed.inc()
        sent_bytes.inc(sent)
        received_bytes.inc(received)

    # A ztunnel counts per connection, on its hot path: it adds to plain per-label-set tallies,
    # which reach the Prometheus counters when they are read (text()): complete, and off the path.
    def tcp_opened(self, values: tuple) -> None:
        """A connection opened, its labels given as :data:`TCP_LABELS` values."""
        t = self._tally.get(values)
        if t is None:
            t = self._tally[values] = [0, 0, 0, 0]
        t[0] += 1

    def tcp_closed(self, values: tuple, sent: int, received: int) -> None:
        t = self._tally.get(values)
        if t is None:
            t = self._tally[values] = [0, 0, 0, 0]
        t[1] += 1
        t[2] += sent
        t[3] += received

    def _fold(self) -> None:
        tally, self._tally = self._tally, {}
        for values, (opened, closed, sent, received) in tally.items():
            children = self._tcp(dict(zip(TCP_LABELS, values)))
            for child, n in zip(children, (opened, closed, sent, received)):
                if n:
                    child.inc(n)

    def text(self) -> bytes:
        self._fold()
        return generate_latest(self.registry)
