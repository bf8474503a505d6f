"""The mesh data plane: proxies built from sans-IO cores and one asyncio driver per role.

- :mod:`.httpcodec` — HTTP/1.1 messages parsed by httptools (no hand-written parser).
- :mod:`.l7` — routing, load balancing, Istio's default retry policy: pure decisions.
- :mod:`.sidecar` — the sidecar role's asyncio driver (outbound 15001, inbound on the app's ports).
"""
