"""Workload apps: Bookinfo-like services, an httpbin-like service and a load client, all run by
one worker process per pod, configured from the topology.

- :mod:`.runtime` — what every app process shares: its pod, dialer, span buffer, instrumented HTTP.
- :mod:`.bookinfo` — productpage, details, reviews, ratings (Istio's ``samples/bookinfo``).
- :mod:`.httpbin` — an httpbin-like app (Istio's ``samples/httpbin``).
- :mod:`.client` — requests from a pod, as curl or fortio in it would send them; :mod:`.loadgen` —
  the load client (N requests or a duration, a rate, C connections).
- :mod:`.worker` — the process that runs one pod's app (forked by the backends' zygote,
  :mod:`meshlab.backends.zygote`).
"""
