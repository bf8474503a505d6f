"""Networking shared by apps and proxies:

- :mod:`.cluster` — the cluster's addresses and DNS (pod IPs, service VIPs, endpoints), as data.
- :mod:`.dialer` — turns "reviews:9080" into a connection the way a pod's kernel would (kube-proxy's
  endpoint choice).
- :mod:`.tcp` — TCP sockets the lab's way (refusing with a reset, as Envoy and ztunnel do).
- :mod:`.httpmessage` — HTTP/1.1 requests and responses as data; :mod:`.httpparse` — read by
  httptools, sans-IO, with Envoy's limits (the proxies' parser too); :mod:`.httpwrite` — written, as
  an endpoint or as a proxy; :mod:`.http1` — the same over asyncio streams.
- :mod:`.proxyproto` — PROXY protocol v2: how, on the loopback backend, an intercepted connection
  reaches its proxy with its original destination; :mod:`.interception` — the one place a proxy learns
  a captured connection's original destination.
- :mod:`.nghttp2` — libnghttp2 (HBONE's HTTP/2) bound with cffi.
- :mod:`.control` — the processes' side of the lab's control channel; :mod:`.specs` — what each process
  is told when it starts (typed, frozen: an app pod's, a proxy's).
"""
