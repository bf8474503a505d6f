"""Workload apps: Bookinfo-like services, an httpbin-like service and a load client, all run by
one worker process per pod (:mod:`.worker`), configured from the topology."""
