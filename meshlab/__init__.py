"""meshlab — a hands-on lab for Istio's sidecar and ambient data planes.

The map, lowest layer first. A unit imports only units of lower layers (the arrows it may take are
the table in ``tests/unit/test_layers.py``, which also refuses any import circle), so each layer can
be read, tested and replaced without the ones above it.

Foundation — imported by anything:

- :mod:`meshlab.version` — the version. :mod:`meshlab.errors` — every exception, in one tree.
- :mod:`meshlab.durations` — Istio's durations (``"1.5s"``, ``"250ms"``). :mod:`meshlab.trace` —
  spans (one hop handling one request) and trace headers. :mod:`meshlab.tables` — a notebook table.
- :mod:`meshlab.yamlnode` — YAML with line numbers, for errors that name file, line and field.
- :mod:`meshlab.modes` — the mesh's vocabulary as values: modes, proxy roles, data planes
  (``"ambient+waypoint"``); every list of them is derived from here.

Description — pure data, starts nothing:

- :mod:`meshlab.topology` — a cluster (nodes, namespaces, services, workloads, pods), loaded from
  ``topologies/*.yaml`` or generated (services x replicas x nodes) and validated.
- :mod:`meshlab.mesh` — which pods are in the mesh and how: Istio's enrollment labels, the one mode
  -> labels table, waypoint enrollment.
- :mod:`meshlab.identity` — the lab's CA and SPIFFE certificates.
- :mod:`meshlab.policy` — Istio's API (VirtualService, DestinationRule, PeerAuthentication,
  AuthorizationPolicy, waypoint Gateway): parse, validate, evaluate, build; pure functions.

Data plane — what runs in each pod's process:

- :mod:`meshlab.net` — cluster addresses and DNS, the pod's dialer (kube-proxy's endpoint choice),
  HTTP/1.1 (httptools, sans-IO) over asyncio, PROXY protocol, the processes' control channel.
- :mod:`meshlab.proxy` — sidecar, ztunnel and waypoint: sans-IO cores and one asyncio driver per role.
- :mod:`meshlab.apps` — Bookinfo-like apps, httpbin-like app and load client; one worker per pod.
- :mod:`meshlab.telemetry` — spans -> paths (hop by hop), latency statistics, cost, pcap files.

Realization — a topology made real, or written out:

- :mod:`meshlab.backends` — ``loopback`` (no root; every pod an address in 127.0.0.0/8) and
  ``mininet`` (root; network namespaces, real iptables); processes, state on disk, clean-up.
- :mod:`meshlab.enrollment` — the enrollment state a lab or an export applies labels and Gateways to.
- :mod:`meshlab.export_manifests`, :mod:`meshlab.export_images`, :mod:`meshlab.export_readme`,
  :mod:`meshlab.export` — the same scenario as Kubernetes + Istio YAML and a README, for a real cluster.
- :mod:`meshlab.supervisor` — a lab's processes: started with typed specs, certificates issued, Istio
  objects pushed, enrollment changes followed, the dead restarted, everything released once.

Recordings — what a lab measured, as data, read back with no lab:

- :mod:`meshlab.records` — frozen dataclasses to JSON and back, every field's type checked.
- :mod:`meshlab.replay` — a recorded run (``lab.record(FILE)``, ``meshlab run --record``) loaded into the
  results the plots draw; imports nothing that runs a lab.

The facade:

- :mod:`meshlab.lab` — ``Lab(topology).start() / apply() / request() / load() / reset() / stop()``.

On top of the lab — measurements, UI (no mesh logic) and exercises:

- :mod:`meshlab.compare` — the data planes side by side, measured. :mod:`meshlab.bench` — start-up
  and per-hop benchmarks. :mod:`meshlab.fuzzgen`, :mod:`meshlab.fuzzprobe`, :mod:`meshlab.fuzztargets`,
  :mod:`meshlab.fuzzbench` — malformed input thrown at every listener of a fuzz lab.
- :mod:`meshlab.viz_layout`, :mod:`meshlab.viz` — plots of results (matplotlib Figures, no Jupyter needed).
- :mod:`meshlab.widgets` — the control panel: the lab, the pure policy builder, plots.
  :mod:`meshlab.bench_panel` — the panel's loop, timed (the only benchmark that needs ipywidgets).
- :mod:`meshlab.probes` — what tasks and notebooks measure on a running lab (which version served,
  a path's calls, tries). :mod:`meshlab.exercises` — checks, tasks and the progress record;
  :mod:`meshlab.tasks` — the notebooks' tasks, one module per topic.
- :mod:`meshlab.report` — a recording as one self-contained HTML page; :mod:`meshlab.dashboard` — the
  Voilà app: recordings explored, or a live lab's control panel.
- :mod:`meshlab.classroom` — for instructors: student and instructor builds, grading, the class view.

Entry points: :mod:`meshlab.cli` (the ``meshlab`` command, thin) and ``python -m meshlab``; this
package re-exports ``Lab`` and ``load_topology`` lazily, so a pod's worker imports only what it needs.

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
