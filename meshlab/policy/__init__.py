"""Istio's policy API, as the lab reads, checks and evaluates it (pure: no I/O).

One module per kind, each holding its kind's validate, compile, check and writers
(:mod:`.handler` says what a kind provides; :mod:`.kinds` is the registry):

- :mod:`.virtualservice` — VirtualService (``retries`` included); :mod:`.httproute` — Gateway
  API HTTPRoute for mesh traffic (``parentRefs`` to a Service); :mod:`.destinationrule` —
  DestinationRule and the traffic policy it compiles to.
- :mod:`.peerauth` — PeerAuthentication; :mod:`.authorizationpolicy` — AuthorizationPolicy.
- :mod:`.gateway` — the waypoint Gateway; :mod:`.enrollment` — Namespace and Service labels.

Shared: :mod:`.objects` (the applied :class:`~.objects.PolicyObject`), :mod:`.loader` (Istio YAML
in, checked and compiled objects out: file, line, field), :mod:`.store` (the lab's config store:
istiod's view of the objects in force), :mod:`.hosts` (host names as istiod resolves them),
:mod:`.routing` (route tables evaluated, whichever kind wrote them), :mod:`.retries` (Envoy's retry
rules as Istio configures them), :mod:`.circuit` (circuit breakers and outlier detection),
:mod:`.authz` (AuthorizationPolicy decided: binding, layers, verdict), :mod:`.authzmatch` (its rules
matched against one request's attributes), :mod:`.builder` (the writers gathered for the control
panel).
"""
