"""The mesh data plane: proxies built from sans-IO cores and one asyncio driver per role.

- :mod:`.sidecar` (+ :mod:`.sidecar_inbound`, what reaches its pod), :mod:`.ztunnel` (+
  :mod:`.ztunnel_node`, capture at the node on mininet), :mod:`.waypoint` — the roles' asyncio
  drivers; :mod:`.main` — the process that runs one proxy.
- :mod:`.ztunnel_conn` — how a ztunnel joins a connection's two sides (TCP to an HBONE stream,
  or TCP to TCP); :mod:`.ztunnel_outbound`, :mod:`.ztunnel_inbound` — its connections each way.
- :mod:`.router` — what every L7 role shares (Envoy's HTTP connection manager and router, in
  miniature): :mod:`.router_plan` decides a request's route and authorization,
  :mod:`.router_attempts` makes its attempts; :mod:`.ztunnel_core` — what a ztunnel decides for a connection, no I/O.
- :mod:`.l7` — load balancing, pure (the retry rules are policy: :mod:`meshlab.policy.retries`).
- :mod:`.upstream` — kept-alive upstream HTTP/1.1 connections; :mod:`.hbone_upstream` — the same
  over HBONE.
- :mod:`.hbone` — HBONE: TCP streams as HTTP/2 CONNECT over one mutual-TLS connection;
  :mod:`.hbone_stream` — one such stream; :mod:`.h2engine` — its HTTP/2, sans-IO, and which
  engine runs: :mod:`.h2engine_nghttp2` (libnghttp2) or :mod:`.h2engine_h2` (h2), both speaking
  :mod:`.h2events`.
- :mod:`.metrics` — Istio's standard metrics with Istio's names, in Prometheus text.
"""
