"""Istio's policy API, as the lab reads, checks and evaluates it (pure: no I/O).

- :mod:`.loader` — Istio YAML in, checked :class:`~.loader.PolicyObject` s out (file, line, field).
- :mod:`.store` — the lab's config store: istiod's view of the objects in force.
- :mod:`.routing` — VirtualService and DestinationRule, evaluated; :mod:`.retries` — Envoy's retry
  rules as Istio configures them; :mod:`.circuit` — circuit breakers and outlier detection.
- :mod:`.peerauth` — PeerAuthentication, evaluated; :mod:`.authz` — AuthorizationPolicy, decided.
- :mod:`.builder` — Istio YAML from a handful of settings (what the control panel writes), and
  the enrollment objects (Namespace labels, waypoint Gateway, ``istio.io/use-waypoint``).
"""
