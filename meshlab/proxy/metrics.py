"""Istio's standard metrics, with Istio's names and labels, in Prometheus text (prometheus_client).

L7 proxies (sidecar, waypoint) report ``istio_requests_total`` and the request duration and size
histograms; ztunnel reports only TCP metrics (``istio_tcp_*``): it never sees a request. No
``*_created`` series: Istio's proxies expose none. Label
values that are not known are ``unknown``, as in Istio; ``connection_security_policy`` is
``unknown`` when the *source* reports (ISTIO-FACTS §5).
"""

from __future__ import annotations

from bisect import bisect_left

from ..identity import principal, spiffe_id
from ..net.cluster import ClusterNet, PodAddr

PEER_LABELS = (
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
)
HTTP_LABELS = (
    "reporter",
    *PEER_LABELS,
    "request_protocol",
    "response_code",
    "response_flags",
    "connection_security_policy",
)
TCP_LABELS = ("reporter", *PEER_LABELS, "request_protocol", "response_flags", "connection_security_policy")
#: Istio's default buckets for istio_request_duration_milliseconds.
DURATION_BUCKETS = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)
SIZE_BUCKETS = (1, 10, 100, 1000, 10000, 100000, 1000000, 10000000)


def workload_of(pod_name: str) -> str:
    return pod_name.rsplit("-", 1)[0] if pod_name.rsplit("-", 1)[-1].isdigit() else pod_name


def peer_labels(
    side: str, pod: PodAddr | None, identity: str | None = None, *, peer: bool = False
) -> dict[str, str]:
    """``source_*`` or ``destination_*`` labels for a pod (or just an identity). For the peer
    of a connection (``peer=True``) the principal is what its certificate proved, or
    ``unknown`` when it proved nothing (plaintext), as Istio reports it."""
    if peer and identity is None:
        return {**peer_labels(side, pod), f"{side}_principal": "unknown"}
    if pod is None:
        return {
            f"{side}_workload": "unknown",
            f"{side}_workload_namespace": "unknown",
            f"{side}_principal": principal(identity) if identity else "unknown",
            f"{side}_app": "unknown",
            f"{side}_version": "unknown",
        }
    return {
        f"{side}_workload": workload_of(pod.name),
        f"{side}_workload_namespace": pod.namespace,
        f"{side}_principal": principal(identity or spiffe_id(pod.namespace, pod.service_account)),
        f"{side}_app": pod.labels.get("app", "unknown"),
        f"{side}_version": pod.labels.get("version", "unknown"),
    }


def service_labels(net: ClusterNet, fqdn: str | None) -> dict[str, str]:
    for s in net.services:
        if s.fqdn == fqdn:
            return {
                "destination_service": s.fqdn,
                "destination_service_name": s.name,
                "destination_service_namespace": s.namespace,
            }
    return {
        "destination_service": fqdn or "unknown",
        "destination_service_name": "unknown",
        "destination_service_namespace": "unknown",
    }


class ProxyMetrics:
    """One proxy's Istio metrics. Counted in plain dicts, one entry per label set; turned into
    Prometheus text by prometheus_client only when scraped (:meth:`text`), so a proxy that
    serves no scrape never runs prometheus_client's code — in a pod forked from the zygote,
    running it copies its pages into the pod (~0.2 MB a proxy, 40 MB over a 200-pod lab)."""

    def __init__(self, l7: bool):
        self.l7 = l7
        self._http: dict[
            tuple, list
        ] = {}  # HTTP_LABELS values -> [requests, duration, request, response sizes]
        self._tcp: dict[tuple, list] = {}  # TCP_LABELS values -> [opened, closed, sent bytes, received bytes]

    @staticmethod
    def label_values(labels: dict[str, str]) -> tuple:
        """``labels`` as :data:`HTTP_LABELS` values, in order (missing ones ``unknown``)."""
        return tuple(labels.get(k, "unknown") for k in HTTP_LABELS)

    def request(
        self, labels: dict[str, str], duration_ms: float, request_bytes: int, response_bytes: int
    ) -> None:
        self.request_values(self.label_values(labels), duration_ms, request_bytes, response_bytes)

    def request_values(self, key: tuple, duration_ms: float, request_bytes: int, response_bytes: int) -> None:
        """One request, its labels given as :meth:`label_values`."""
        row = self._http.get(key)
        if row is None:
            row = self._http[key] = [
                0,
                _Histogram(DURATION_BUCKETS),
                _Histogram(SIZE_BUCKETS),
                _Histogram(SIZE_BUCKETS),
            ]
        row[0] += 1
        row[1].observe(duration_ms)
        row[2].observe(request_bytes)
        row[3].observe(response_bytes)

    def _tcp_row(self, labels: dict[str, str]) -> list:
        key = tuple(labels.get(k, "unknown") for k in TCP_LABELS)
        row = self._tcp.get(key)
        if row is None:
            row = self._tcp[key] = [0, 0, 0, 0]
        return row

    def opened_connection(self, labels: dict[str, str]) -> None:
        self._tcp_row(labels)[0] += 1

    def closed_connection(self, labels: dict[str, str], sent: int, received: int) -> None:
        row = self._tcp_row(labels)
        row[1] += 1
        row[2] += sent
        row[3] += received

    # A ztunnel counts per connection, on its hot path: its core hands over the label values
    # (:data:`TCP_LABELS` order, looked up once per label set), not a dict to be read again.
    def tcp_opened(self, values: tuple) -> None:
        """A connection opened, its labels given as :data:`TCP_LABELS` values."""
        row = self._tcp.get(values)
        if row is None:
            row = self._tcp[values] = [0, 0, 0, 0]
        row[0] += 1

    def tcp_closed(self, values: tuple, sent: int, received: int) -> None:
        row = self._tcp.get(values)
        if row is None:
            row = self._tcp[values] = [0, 0, 0, 0]
        row[1] += 1
        row[2] += sent
        row[3] += received

    def families(self) -> list:
        """The metric families, as prometheus_client's ``*MetricFamily`` objects."""
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        out = []
        if self.l7:
            requests = CounterMetricFamily("istio_requests", "Requests handled", labels=HTTP_LABELS)
            hists = [
                HistogramMetricFamily(name, doc, labels=HTTP_LABELS)
                for name, doc in (
                    ("istio_request_duration_milliseconds", "Request duration"),
                    ("istio_request_bytes", "Request body sizes"),
                    ("istio_response_bytes", "Response body sizes"),
                )
            ]
            for key, (n, *hs) in self._http.items():
                requests.add_metric(key, n)
                for family, h in zip(hists, hs):
                    family.add_metric(key, h.cumulative(), h.sum)
            out += [requests, *hists]
        tcp = [
            CounterMetricFamily(name, doc, labels=TCP_LABELS)
            for name, doc in (
                ("istio_tcp_connections_opened", "TCP connections opened"),
                ("istio_tcp_connections_closed", "TCP connections closed"),
                ("istio_tcp_sent_bytes", "Bytes sent to the peer"),
                ("istio_tcp_received_bytes", "Bytes received from the peer"),
            )
        ]
        for key, values in self._tcp.items():
            for family, v in zip(tcp, values):
                if v:  # a series exists once counted: a refused connection's DENY labels are on closed only
                    family.add_metric(key, v)
        return out + tcp

    def text(self) -> bytes:
        """Prometheus text exposition (what /stats/prometheus serves)."""
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(self.families()))
        return generate_latest(registry)


class _Histogram:
    """A Prometheus histogram's state: a count per bucket (``le`` bounds, then +Inf) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple):
        self.bounds, self.counts, self.sum = bounds, [0] * (len(bounds) + 1), 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bucket with value <= le
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        from prometheus_client.utils import floatToGoString

        out, total = [], 0
        for le, n in zip((*self.bounds, float("inf")), self.counts):
            total += n
            out.append((floatToGoString(le), total))
        return out


class _Families:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families
