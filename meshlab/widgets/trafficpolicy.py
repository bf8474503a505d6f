"""The panel's traffic-policy section: what its controls say (:meth:`route_settings`, the mesh-wide
mTLS in force) and what a change does — the service's VirtualService (and the DestinationRule its
weights need) or the mesh's PeerAuthentication, written by :mod:`meshlab.policy.builder`, applied
with ``lab.apply`` (or deleted, back at Istio's defaults) and shown as YAML. The panel applies only
objects it wrote: one a learner applied is left alone."""

from __future__ import annotations

import ipywidgets as w

from ..errors import LabError
from ..policy import builder
from .texts import describe, dump

#: The retry-attempts dropdown's "Istio default" (no retries field written): a Dropdown shows
#: nothing at all for a value of None, so the default has a number of its own.
ISTIO_DEFAULT_ATTEMPTS = -1


class TrafficPolicySection:
    """Mixed into :class:`~.panel.ControlPanel`, which creates the controls read here (``service``,
    ``attempts``, ``per_try_timeout``, ``retry_on``, ``timeout``, ``delay_*``, ``abort_*``,
    ``weights``, ``mtls``) and provides ``_guard``, ``_after_change`` and ``_quiet``."""

    def route_settings(self) -> builder.RouteSettings:
        ns, name = self.service.value
        svc = next(s for s in self.lab.topology.services if (s.namespace, s.name) == (ns, name))
        return builder.RouteSettings(
            svc.name,
            svc.namespace,
            attempts=None if self.attempts.value == ISTIO_DEFAULT_ATTEMPTS else self.attempts.value,
            per_try_timeout_s=self.per_try_timeout.value or None,
            retry_on=tuple(self.retry_on.value),
            timeout_s=self.timeout.value or None,
            delay_percent=self.delay_percent.value,
            delay_s=self.delay_s.value,
            abort_percent=self.abort_percent.value,
            abort_status=self.abort_status.value,
            weights={c.description: c.value for c in self.weights.children if isinstance(c, w.IntSlider)},
        )

    def _mtls_in_force(self) -> str:
        pa = self._in_force("PeerAuthentication", builder.ROOT_NAMESPACE, "default")
        return (pa.spec.get("mtls") or {}).get("mode", "UNSET") if pa else "UNSET"

    def _rebuild_weights(self) -> None:
        ns, name = self.service.value
        subsets = builder.versions(self.lab.topology, name, ns)
        sliders = (
            [
                w.IntSlider(value=0, min=0, max=100, step=10, description=v, continuous_update=False)
                for v in subsets
            ]
            if len(subsets) > 1
            else []
        )
        for c in sliders:
            c.observe(self._on_policy, names="value")
        self.weights.children = sliders or [w.HTML(f"<i>{name} has one version: nothing to split</i>")]

    def _on_service(self, change) -> None:
        """Another service's policy: start from Istio's defaults (the panel applies nothing yet)."""
        self._quiet = True
        try:
            self.attempts.value, self.per_try_timeout.value, self.retry_on.value = (
                ISTIO_DEFAULT_ATTEMPTS,
                0,
                (),
            )
            self.timeout.value, self.delay_percent.value, self.abort_percent.value = 0, 0, 0
            self.delay_s.value, self.abort_status.value = 1.0, 503
            self._rebuild_weights()
        finally:
            self._quiet = False

    def _on_policy(self, change=None) -> None:
        """Write the service's VirtualService (and the DestinationRule its weights need) and
        apply it; back at Istio's defaults, delete the VirtualService instead."""
        if self._quiet:
            return

        def act():
            s = self.route_settings()
            self._leave_learners_yaml_alone("VirtualService", s.namespace, s.host)
            vs = builder.virtual_service(s)
            docs = []
            if any(s.weights.values()) and not builder.subsets_defined(self.lab.policies(), s):
                self._leave_learners_yaml_alone("DestinationRule", s.namespace, s.host)
                docs.append(
                    builder.destination_rule(
                        s.host, s.namespace, builder.versions(self.lab.topology, s.host, s.namespace)
                    )
                )
            if vs is not None:
                docs.append(vs)
                lines = self.lab.apply(docs)
            elif self._in_force("VirtualService", s.namespace, s.host):
                lines = self.lab.delete(kind="VirtualService", name=s.host, namespace=s.namespace)
            else:
                lines = []
            shown = (
                dump(docs)
                if docs
                else f"# no VirtualService for {s.host}: Istio's defaults (2 retries on "
                "connect-failure, refused-stream, unavailable, cancelled; no timeout)"
            )
            self.yaml.value = (
                shown
                + "".join(f"\n# {line}" for line in lines)
                + "".join(f"\n# warning: {x}" for x in self.lab.warnings if vs is not None)
            )
            self.status.value = f"{s.host}: {describe(s)}"
            self._after_change(f"{s.host}: {describe(s)}")

        self._guard(act, "applying the traffic policy")

    def _leave_learners_yaml_alone(self, kind: str, namespace: str, name: str) -> None:
        """The panel changes only the objects it wrote: one a learner applied is theirs."""
        mine = self._in_force(kind, namespace, name)
        if mine is not None and not builder.written_by_panel(mine.doc):
            raise LabError(
                f"{kind} {namespace}/{name} is YAML you applied, so the panel leaves it alone. "
                f"To set it from here, delete it first: lab.delete(kind={kind!r}, name={name!r}, "
                f"namespace={namespace!r})"
            )

    def _in_force(self, kind: str, namespace: str, name: str):
        """The object of that kind and name the lab has in force, or None."""
        return next((o for o in self.lab.policies() if o.key == (kind, namespace, name)), None)

    def _on_mtls(self, change) -> None:
        if self._quiet:
            return

        def act():
            self._leave_learners_yaml_alone("PeerAuthentication", builder.ROOT_NAMESPACE, "default")
            pa = builder.peer_authentication(change["new"])
            if pa is not None:
                lines = self.lab.apply(pa)
            elif self._in_force("PeerAuthentication", builder.ROOT_NAMESPACE, "default"):
                lines = self.lab.delete(
                    kind="PeerAuthentication", name="default", namespace=builder.ROOT_NAMESPACE
                )
            else:
                lines = []
            self.yaml.value = (
                (dump([pa]) if pa else "# no mesh-wide PeerAuthentication: PERMISSIVE, Istio's default")
                + "".join(f"\n# {line}" for line in lines)
                + "".join(f"\n# warning: {x}" for x in self.lab.warnings)
            )
            self.status.value = f"mesh-wide mTLS: {change['new']}"
            self._after_change(f"mTLS {change['new']}")

        self._guard(act, f"setting mesh-wide mTLS to {change['new']}")
