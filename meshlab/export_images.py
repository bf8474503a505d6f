"""Which published image runs each of the lab's app kinds on a real cluster, and how it differs.

Every image and container setting below is the one Istio's own samples use (istio/istio
``samples/``), so an exported scenario behaves like the Istio task it mirrors:

| app kind | image | from (``samples/`` in istio/istio) |
| --- | --- | --- |
| productpage, details, ratings | ``docker.io/istio/examples-bookinfo-<kind>-v1:1.20.3`` | ``bookinfo/platform/kube/bookinfo.yaml`` |
| reviews (no stars / black / red) | ``...-reviews-v1`` / ``-v2`` / ``-v3`` ``:1.20.3`` | same |
| httpbin | ``docker.io/mccutchen/go-httpbin:v2.15.0`` (port 8080) | ``httpbin/httpbin.yaml`` |
| client (with an httpbin in the topology) | ``fortio/fortio:latest_release`` | ``httpbin/sample-client/fortio-deploy.yaml`` |
| client (otherwise) | ``curlimages/curl:8.16.0``, sleeping | ``curl/curl.yaml`` |

The published images do their own work: the lab's configured ``serviceTime`` is not reproduced,
and Bookinfo's images call the services their code names (productpage: details and reviews;
reviews v2/v3: ratings) on port 9080, with their own hard-coded timeouts — the ones the shipped
``bookinfo`` topology copies. Where a topology asks for something else, the note says so.
"""  # noqa: E501 (a markdown table)

from __future__ import annotations

from dataclasses import dataclass, field

from .topology.model import Workload

BOOKINFO_TAG = "1.20.3"
BOOKINFO_PORT = 9080
BOOKINFO_SOURCE = "istio/istio samples/bookinfo/platform/kube/bookinfo.yaml"
HTTPBIN_IMAGE = "docker.io/mccutchen/go-httpbin:v2.15.0"
HTTPBIN_PORT = 8080
HTTPBIN_SOURCE = "istio/istio samples/httpbin/httpbin.yaml"
CURL_IMAGE = "curlimages/curl:8.16.0"
CURL_SOURCE = "istio/istio samples/curl/curl.yaml"
FORTIO_IMAGE = "fortio/fortio:latest_release"
FORTIO_SOURCE = "istio/istio samples/httpbin/sample-client/fortio-deploy.yaml"

#: What Bookinfo's published images call, by app kind and star colour: (service, port, timeout s).
BOOKINFO_CALLS = {
    ("productpage", None): {("details", 9080, 3.0, 0), ("reviews", 9080, 3.0, 1)},
    ("reviews", None): set(),
    ("reviews", "black"): {("ratings", 9080, 10.0, 0)},
    ("reviews", "red"): {("ratings", 9080, 2.5, 0)},
    ("details", None): set(),
    ("ratings", None): set(),
}
REVIEWS_VERSION = {None: "v1", "black": "v2", "red": "v3"}


@dataclass
class Container:
    spec: dict  # the container, as in a pod spec
    source: str  # the Istio sample it is taken from
    volumes: tuple[str, ...] = ()  # emptyDir volumes the pod needs
    termination_grace_zero: bool = False
    notes: list[str] = field(default_factory=list)


def container_for(w: Workload, client_kind: str = "curl") -> Container:
    """The container that runs workload ``w``'s app on a real cluster. ``client_kind`` is
    ``"curl"`` or ``"fortio"`` (for ``client`` apps). A ``ValueError`` says what cannot be run."""
    kind = w.app.kind
    if kind in ("productpage", "details", "reviews", "ratings"):
        return _bookinfo(w)
    if kind == "httpbin":
        return _httpbin(w)
    if kind == "client":
        return _fortio(w) if client_kind == "fortio" else _curl(w)
    raise ValueError(f"workload {w.namespace}/{w.name}: no published image for app kind {kind!r}")


def _bookinfo(w: Workload) -> Container:
    kind = w.app.kind
    star = w.app.params.get("starColor") if kind == "reviews" else None
    version = REVIEWS_VERSION[star] if kind == "reviews" else "v1"
    if w.ports != (BOOKINFO_PORT,):
        raise ValueError(
            f"workload {w.namespace}/{w.name}: Istio's {kind} image listens on {BOOKINFO_PORT} "
            f"only, but the topology has it on {', '.join(map(str, w.ports)) or 'no port'}; "
            f"set its ports to [{BOOKINFO_PORT}] to export it"
        )
    spec: dict = {
        "name": kind,
        "image": f"docker.io/istio/examples-bookinfo-{kind}-{version}:{BOOKINFO_TAG}",
        "imagePullPolicy": "IfNotPresent",
    }
    volumes: tuple[str, ...] = ()
    notes = []
    if kind == "reviews":
        spec["env"] = [{"name": "LOG_DIR", "value": "/tmp/logs"}]
        volumes = ("tmp", "wlp-output")
    variant = w.app.params.get("variant")
    if kind == "ratings" and variant not in (None, "normal"):
        # ratings.js reads SERVICE_VERSION: v-faulty, v-delayed, v-unavailable, v-unhealthy
        spec["env"] = [{"name": "SERVICE_VERSION", "value": f"v-{variant}"}]
    spec["ports"] = [{"containerPort": BOOKINFO_PORT}]
    if kind == "reviews":
        spec["volumeMounts"] = [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "wlp-output", "mountPath": "/opt/ibm/wlp/output"},
        ]
    elif kind == "productpage":
        spec["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
        volumes = ("tmp",)
    want = BOOKINFO_CALLS.get((kind, star), set())
    have = {(c.service.split(".")[0], c.port, c.timeout, c.retries) for c in w.app.calls}
    if have != want:
        said = (
            "; ".join(f"{s}:{p} (timeout {t}s, {r} retries)" for s, p, t, r in sorted(have, key=str))
            or "nothing"
        )
        does = (
            "; ".join(f"{s}:{p} (timeout {t}s, {r} retries)" for s, p, t, r in sorted(want, key=str))
            or "nothing"
        )
        notes.append(
            f"{w.name}: the topology has it call {said}; Istio's {kind}-{version} image calls {does}."
        )
    return Container(spec, BOOKINFO_SOURCE, volumes, notes=notes)


def _httpbin(w: Workload) -> Container:
    if len(w.ports) != 1:
        raise ValueError(
            f"workload {w.namespace}/{w.name}: go-httpbin listens on one port; the topology "
            f"gives {len(w.ports)}: {', '.join(map(str, w.ports))}"
        )
    port = w.ports[0]
    spec: dict = {"name": "httpbin", "image": HTTPBIN_IMAGE, "imagePullPolicy": "IfNotPresent"}
    notes = []
    if port != HTTPBIN_PORT:
        spec["env"] = [{"name": "PORT", "value": str(port)}]  # go-httpbin's -port / $PORT
        notes.append(
            f"{w.name}: go-httpbin listens on {HTTPBIN_PORT} by default; $PORT={port} moves it "
            "where the topology has it."
        )
    spec["ports"] = [{"containerPort": port}]
    return Container(spec, HTTPBIN_SOURCE, notes=notes)


def _curl(w: Workload) -> Container:
    return Container(
        {
            "name": "curl",
            "image": CURL_IMAGE,
            "command": ["/bin/sleep", "infinity"],
            "imagePullPolicy": "IfNotPresent",
        },
        CURL_SOURCE,
        termination_grace_zero=True,
    )


def _fortio(w: Workload) -> Container:
    return Container(
        {
            "name": "fortio",
            "image": FORTIO_IMAGE,
            "imagePullPolicy": "Always",
            "ports": [
                {"containerPort": 8080, "name": "http-fortio"},
                {"containerPort": 8079, "name": "grpc-ping"},
            ],
        },
        FORTIO_SOURCE,
    )
