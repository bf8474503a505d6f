"""Networking shared by apps and proxies: the cluster's addresses and DNS (:mod:`.cluster`), the
dialer that turns "reviews:9080" into a connection the way a pod's kernel would (:mod:`.dialer`),
HTTP/1.1 parsed by httptools, sans-IO (:mod:`.httpparse`, the proxies' parser too) and over
asyncio streams (:mod:`.http1`), PROXY protocol v2 (:mod:`.proxyproto`:
how, on the loopback backend, an intercepted connection reaches its proxy with its original
destination) and the processes' control channel (:mod:`.control`)."""
