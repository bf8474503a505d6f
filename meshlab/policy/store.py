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
from .authz import ROOT_NAMESPACE
from .kinds import REGISTRY
from .objects import PolicyObject


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
                raise PolicyError(
                    f'{kind} "{name}" not found in namespace {ns!r}; in force: '
                    f"{', '.join(_ref(o) for o in self.items) or '(nothing)'}"
                )
        return PolicyStore(tuple(o for o in self.items if o.key not in keys)), [
            f"{_ref(o)} deleted" for o in self.items if o.key in keys
        ]


def _ref(o: PolicyObject) -> str:
    return f"{o.kind.lower()}/{o.name}" + (f" -n {o.namespace}" if o.namespace else "")


@dataclass
class LabView:
    """What :func:`check` needs to know about the running lab."""

    topology: Topology
    mesh: Mapping[str, str | None]  # pod -> "sidecar" | "ambient" | "waypoint" | None
    waypoint_of: Mapping[tuple, str] = field(default_factory=dict)  # (namespace, service) -> waypoint pod


def check(objs: Iterable[PolicyObject], lab: LabView, store: PolicyStore) -> list[str]:
    """Check the new objects against the lab (and the store they join): the namespace here, the
    rest by each kind's ``check`` (:mod:`.kinds`). Raises PolicyError for what cannot be applied;
    returns warnings for what Istio would take but a learner should know."""
    namespaces = {n.name for n in lab.topology.namespaces}
    warnings: list[str] = []
    for o in objs:
        if (
            o.namespace is not None
            and o.namespace not in namespaces
            and not (
                o.namespace == ROOT_NAMESPACE and o.kind in ("PeerAuthentication", "AuthorizationPolicy")
            )
        ):
            extra = f", or {ROOT_NAMESPACE} (mesh-wide PeerAuthentication and AuthorizationPolicy)"
            raise PolicyError(
                f"namespace {o.namespace!r} is not in the lab; namespaces: "
                f"{', '.join(sorted(namespaces))}{extra}",
                file=o.file,
                document=o.document,
                what=str(o),
            )
        kind_check = REGISTRY[o.kind].check
        if kind_check is not None:
            warnings += kind_check(o, lab, store)
    return warnings
