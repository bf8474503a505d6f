"""The lab's config store (istiod's view of the Istio objects in force), pure.

:class:`PolicyStore` is immutable: :meth:`~PolicyStore.applied` and :meth:`~PolicyStore.deleted`
return a new store, so a rejected apply leaves the lab's store exactly as it was. :func:`check`
looks at a store against the running lab — errors for what cannot be (a namespace the lab does
not have), warnings for what Istio would accept but a learner should hear about (a subset no
DestinationRule defines, a VirtualService nobody enforces in ambient mode without a waypoint, a
PeerAuthentication DISABLE in ambient, an L7 rule bound to ztunnel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ..errors import PolicyError
from ..topology.model import Topology
from .loader import ROOT_NAMESPACE, PolicyObject
from .routing import destination_rule_for, fqdn, short_name_hint, subset_labels

@dataclass(frozen=True)
class PolicyStore:
    items: tuple[PolicyObject, ...] = ()

    @property
    def objects(self) -> list[PolicyObject]:
        return list(self.items)

    def get(self, kind: str, namespace: str | None, name: str) -> PolicyObject | None:
        for o in self.items:
            if o.key == (kind, namespace, name):
                return o
        return None

    def applied(self, objs: Iterable[PolicyObject]) -> tuple["PolicyStore", list[str]]:
        """The store with ``objs`` created or replacing their namesakes (which keep their place:
        Istio's "oldest wins" goes by creation), and ``kubectl apply``-style lines."""
        items, report = list(self.items), []
        for o in objs:
            for i, old in enumerate(items):
                if old.key == o.key:
                    report.append(f"{_ref(o)} {'unchanged' if old.doc == o.doc else 'configured'}")
                    items[i] = o
                    break
            else:
                items.append(o)
                report.append(f"{_ref(o)} created")
        return PolicyStore(tuple(items)), report

    def deleted(self, keys: Iterable[tuple]) -> tuple["PolicyStore", list[str]]:
        keys = list(keys)
        present = {o.key for o in self.items}
        for k in keys:
            if k not in present:
                kind, ns, name = k
                raise PolicyError(f'{kind} "{name}" not found in namespace {ns!r}; in force: '
                                  f"{', '.join(_ref(o) for o in self.items) or '(nothing)'}")
        return PolicyStore(tuple(o for o in self.items if o.key not in keys)), \
            [f"{_ref(o)} deleted" for o in self.items if o.key in keys]


def _ref(o: PolicyObject) -> str:
    return f"{o.kind.lower()}/{o.name}" + (f" -n {o.namespace}" if o.namespace else "")


@dataclass
class LabView:
    """What :func:`check` needs to know about the running lab."""
    topology: Topology
    mesh: Mapping[str, str | None]                      # pod -> "sidecar" | "ambient" | "waypoint" | None
    waypoint_of: Mapping[tuple, str] = field(default_factory=dict)   # (namespace, service) -> waypoint pod


def check(objs: Iterable[PolicyObject], lab: LabView, store: PolicyStore) -> list[str]:
    """Check the new objects against the lab (and the store they join). Raises PolicyError for
    what cannot be applied; returns warnings for what Istio would take but a learner should know."""
    topo = lab.topology
    namespaces = {n.name for n in topo.namespaces}
    services = {s.fqdn: s for s in topo.services}
    warnings: list[str] = []
    for o in objs:
        def err(message: str) -> PolicyError:
            return PolicyError(message, file=o.file, document=o.document, what=str(o))
        if o.namespace is not None and o.namespace not in namespaces and not (
                o.namespace == ROOT_NAMESPACE and o.kind in ("PeerAuthentication", "AuthorizationPolicy")):
            extra = f", or {ROOT_NAMESPACE} (mesh-wide PeerAuthentication and AuthorizationPolicy)"
            raise err(f"namespace {o.namespace!r} is not in the lab; namespaces: {', '.join(sorted(namespaces))}{extra}")
        if o.kind == "Namespace" and o.name not in namespaces:
            raise err(f"the lab has no namespace {o.name!r}: namespaces come from the topology "
                      f"({', '.join(sorted(namespaces))})")
        if o.kind == "Service" and fqdn(o.name, o.namespace) not in services:
            raise err(f"the lab has no service {o.namespace}/{o.name}: services come from the topology")
        if o.kind == "Service" and o.doc.get("spec"):
            _check_service_spec(o, services[fqdn(o.name, o.namespace)], err)
        if o.kind == "VirtualService":
            warnings += _check_virtual_service(o, lab, services, store)
        elif o.kind == "DestinationRule":
            host = fqdn(o.spec["host"], o.namespace)
            if host not in services:
                warnings.append(f"{o}: host {o.spec['host']!r} ({host}) is not a service in the lab; it affects nothing"
                                f"{short_name_hint(host, services)}")
            else:
                pods = [p for p in topo.pods if services[host].selects(p)]
                for s in o.spec.get("subsets") or []:
                    want = s.get("labels") or {}
                    if not any(all(p.labels.get(k) == v for k, v in want.items()) for p in pods):
                        warnings.append(f"{o}: subset {s['name']!r} selects no pod of {host} (labels {want})")
        elif o.kind == "PeerAuthentication":
            modes = [(o.spec.get("mtls") or {}).get("mode")] + \
                    [v.get("mode") for v in (o.spec.get("portLevelMtls") or {}).values()]
            ambient = [p for p in topo.pods if lab.mesh.get(p.name) == "ambient" and
                       (o.namespace in (p.namespace, ROOT_NAMESPACE))]
            if "DISABLE" in modes and ambient:
                warnings.append(f"{o}: for ambient workloads ({', '.join(p.name for p in ambient[:3])}"
                                f"{'...' if len(ambient) > 3 else ''}) DISABLE acts as PERMISSIVE: istiod's conversion "
                                "for ztunnel knows only STRICT and not-STRICT, so it lifts a wider STRICT and lets "
                                "plaintext in; ztunnel still tunnels mesh traffic. (Istio's docs say such policies "
                                "are ignored; istiod's code treats them as PERMISSIVE.)")
        elif o.kind == "AuthorizationPolicy":
            warnings += _check_authorization(o, lab)
        for fault_kind in _faults_without_percentage(o):
            warnings.append(f"{o}: fault {fault_kind} has no percentage, so it applies to no request "
                            "(Istio's default); add percentage: {value: 100}")
    return warnings


def _check_service_spec(o: PolicyObject, svc, err) -> None:
    """A Service applied with a spec (as ``meshlab export`` writes it) must say what the
    topology says: the lab sets its labels, and cannot change its ports or selector."""
    spec = o.doc["spec"]
    if "selector" in spec and dict(spec["selector"]) != dict(svc.selector):
        raise err(f"spec.selector {dict(spec['selector'])} differs from the topology's {dict(svc.selector)}: the lab's "
                  "Services come from the topology, and an applied Service may only change metadata.labels")
    for i, p in enumerate(spec.get("ports") or []):
        if p["port"] != svc.port or p.get("targetPort", p["port"]) != svc.target_port:
            raise err(f"spec.ports[{i}] (port {p['port']}, targetPort {p.get('targetPort', p['port'])}) differs from the "
                      f"topology's (port {svc.port}, targetPort {svc.target_port}): an applied Service may only change "
                      "metadata.labels")


def _check_virtual_service(o: PolicyObject, lab: LabView, services: dict, store: PolicyStore) -> list[str]:
    out = []
    topo = lab.topology
    for h in o.spec["hosts"]:
        host = fqdn(h, o.namespace)
        if host not in services:
            out.append(f"{o}: host {h!r} ({host}) is not a service in the lab; it affects nothing"
                       f"{short_name_hint(host, services)}")
            continue
        svc = services[host]
        clients_l7 = any(lab.mesh.get(p.name) == "sidecar" for p in topo.pods)
        if (svc.namespace, svc.name) not in lab.waypoint_of:
            ambient_dst = any(lab.mesh.get(p.name) == "ambient" for p in topo.pods if svc.selects(p))
            if ambient_dst and not clients_l7:
                out.append(f"{o}: {svc.name} is in ambient mode with no waypoint, so no proxy applies its L7 rules "
                           "(ztunnel never reads HTTP). Add a waypoint for it (lab.set_waypoints(['"
                           f"{svc.name}']) or the istio.io/use-waypoint label)")
            elif not clients_l7 and not ambient_dst:
                out.append(f"{o}: no proxy sees requests to {svc.name} (mode none): it affects nothing")
    at_waypoint = [h for h in o.spec["hosts"] if fqdn(h, o.namespace) in services and
                   (services[fqdn(h, o.namespace)].namespace, services[fqdn(h, o.namespace)].name) in lab.waypoint_of]
    for i, r in enumerate(o.spec.get("http") or []):
        for j, m in enumerate(r.get("match") or []):
            if m.get("sourceLabels") and at_waypoint:
                out.append(f"{o}: http[{i}].match[{j}] uses sourceLabels, which waypoints ignore: istiod drops such "
                           f"match blocks from the routes of the waypoint serving {', '.join(at_waypoint)} "
                           "(source label matching is not supported in ambient mode, istio/istio#51565), so "
                           "requests through it never match that block")
        for j, d in enumerate(r["route"]):
            host, subset = fqdn(d["destination"]["host"], o.namespace), d["destination"].get("subset")
            if host not in services:
                out.append(f"{o}: http[{i}].route[{j}] sends to {d['destination']['host']!r} ({host}), which is not "
                           f"a service in the lab: those requests get 503 (NC){short_name_hint(host, services)}")
            elif subset:
                pending = [x for x in store.items if x.kind == "DestinationRule"]
                dr = destination_rule_for(pending, host)
                if subset_labels(dr, subset) is None:
                    out.append(f"{o}: http[{i}].route[{j}] uses subset {subset!r} of {host}, but no DestinationRule "
                               "defines it: those requests get 503 (NC) until one does")
    return out


def _faults_without_percentage(o: PolicyObject) -> list[str]:
    out = []
    if o.kind == "VirtualService":
        for r in o.spec.get("http") or []:
            for k in ("delay", "abort"):
                f = (r.get("fault") or {}).get(k)
                if f is not None and "percentage" not in f and "percent" not in f:
                    out.append(k)
    return out


def _check_authorization(o: PolicyObject, lab: LabView) -> list[str]:
    """Istio's status messages for policies that will not do what they say: an L7 rule bound to
    ztunnel (no waypoint in the way), a targetRefs policy with no waypoint to enforce it."""
    from .authz import for_ztunnel
    topo, spec = lab.topology, o.spec
    refs = spec.get("targetRefs") or ([spec["targetRef"]] if spec.get("targetRef") else [])
    if refs:
        out = []
        waypoints = {topo.pod(p).namespace for p in lab.mesh if lab.mesh[p] == "waypoint"} if lab.mesh else set()
        for r in refs:
            if r["kind"] == "Service" and (o.namespace, r["name"]) not in lab.waypoint_of:
                out.append(f"{o}: targets Service {r['name']}, which no waypoint serves: nothing enforces it "
                           "(sidecars and ztunnel ignore targetRefs policies); add a waypoint for it")
            elif r["kind"] == "Gateway" and o.namespace not in waypoints:
                out.append(f"{o}: targets Gateway {r['name']}, but namespace {o.namespace} has no waypoint running")
        return out
    want = (spec.get("selector") or {}).get("matchLabels") or {}
    ambient = [p for p in topo.pods if lab.mesh.get(p.name) == "ambient" and o.namespace in (p.namespace, ROOT_NAMESPACE)
               and all(p.labels.get(k) == v for k, v in want.items())]
    if not ambient:
        return []
    _, warning = for_ztunnel({"name": o.name, "namespace": o.namespace, "spec": spec})
    return [f"{o}: {warning}"] if warning else []
