"""meshlab — a hands-on lab for Istio's sidecar and ambient data planes.

The map (lower layers never import upper ones):

- :mod:`meshlab.topology` — a cluster as pure data (nodes, namespaces, services, workloads, pods),
  loaded from ``topologies/*.yaml`` or generated (services x replicas x nodes) and validated;
  starts nothing.
- :mod:`meshlab.trace` — spans (one hop handling one request) and trace headers.
- :mod:`meshlab.net` — cluster addresses and DNS, the pod's dialer (kube-proxy's endpoint choice),
  HTTP/1.1 (httptools, sans-IO) over asyncio.
- :mod:`meshlab.apps` — Bookinfo-like apps, httpbin-like app and load client; one worker process
  per pod.
- :mod:`meshlab.telemetry` — spans -> paths (hop by hop), latency statistics.
- :mod:`meshlab.backends` — what realizes a topology: ``loopback`` (no root; every pod an address
  in 127.0.0.0/8) and, later, ``mininet``; processes, state on disk, clean-up.
- :mod:`meshlab.lab` — the facade: ``Lab(topology).start() / request() / load() / reset() / stop()``.
- :mod:`meshlab.export` — the same scenario as Kubernetes + Istio YAML and a README, for a real cluster.
- :mod:`meshlab.cli` — the ``meshlab`` command.

Usage::

    from meshlab import Lab
    with Lab("bookinfo") as lab:
        r = lab.request("client", "http://productpage:9080/productpage")
        print(r.path)
"""

from __future__ import annotations

from .version import __version__

__all__ = ["Lab", "load_topology", "__version__"]


def __getattr__(name: str):
    # Lazy, so that a pod's worker process imports only what it needs and starts fast.
    if name == "Lab":
        from .lab import Lab
        return Lab
    if name == "load_topology":
        from .topology import load_topology
        return load_topology
    raise AttributeError(f"module 'meshlab' has no attribute {name!r}")
