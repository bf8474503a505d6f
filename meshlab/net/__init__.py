"""Networking shared by apps and proxies: the cluster's addresses and DNS (:mod:`.cluster`), the
dialer that turns "reviews:9080" into a connection the way a pod's kernel would (:mod:`.dialer`),
and HTTP/1.1 over asyncio streams on top of h11 (:mod:`.http1`)."""
