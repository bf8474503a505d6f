"""The lab's control plane, as the learner drives it: Istio objects applied and deleted (the lab's
istiod checks them all, then pushes them to every running proxy), and enrollment changed — a
namespace's mesh mode, which services use a waypoint — on the running lab, with what Kubernetes
would restart restarted and nothing else.

:class:`Control` is a part of :class:`~meshlab.lab.Lab` (it holds no state of its own): it reads
and sets the lab's ``_store`` (the objects in force), ``_enrollment``, ``_base`` (the topology
without waypoint pods), ``topology``, ``mesh``, ``waypoint_of``, ``mode`` and ``warnings``, and asks
the lab's supervisor (``_sup``) to push configuration and follow enrollment changes.
"""

from __future__ import annotations

from dataclasses import replace

from .. import enrollment, mesh
from ..errors import LabError, PolicyError
from ..policy.loader import PolicyObject, load_policies
from ..policy.store import LabView, PolicyStore, check
from .recording import yaml_of


class Control:
    """Istio objects and enrollment on a lab: ``apply``, ``delete``, ``set_mode``, ``set_waypoints``."""

    # -- enrollment ----------------------------------------------------------------------------
    def set_mode(self, mode: str, namespace: str | None = None) -> dict:
        """Move a namespace (or every namespace) to mesh mode ``none``, ``sidecar`` or ``ambient``
        on the running lab, by relabelling it as one would in Kubernetes.

        Enrolling in ambient (or leaving it) needs no pod restart: the node's ztunnel starts (or
        stops) capturing the pods' traffic. Sidecar injection happens when a pod is created, so
        pods moving into or out of sidecar mode are restarted — and the lab says so. Returns
        ``{"restarted": [...], "enrolled": [...], "left": [...]}``.
        """
        self._require_running()
        if mode not in mesh.MODES:
            raise LabError(f"unknown mesh mode {mode!r}; allowed: {', '.join(mesh.MODES)}")
        names = [n.name for n in self.topology.namespaces]
        if namespace is not None and namespace not in names:
            raise LabError(f"no namespace named {namespace!r}; namespaces: {', '.join(names)}")
        targets = [namespace] if namespace else names
        e = enrollment.set_mode(self._enrollment, self._base, mode, targets)
        r = self._enroll(e, self._plan(e, LabError))
        # a Namespace applied earlier shows its labels as they are now (kubectl get ns -o yaml would)
        live = [
            replace(
                o,
                doc={
                    **o.doc,
                    "metadata": {**(o.doc.get("metadata") or {}), "labels": dict(e.namespace_labels[o.name])},
                },
            )
            for o in self._store.items
            if o.kind == "Namespace" and o.name in targets
        ]
        if live:
            self._store = self._store.applied(live)[0]
        return {k: r[k] for k in ("restarted", "enrolled", "left")}

    def set_waypoints(self, waypoints: "str | list[str] | None") -> dict:
        """Change which services use a waypoint on the running lab — ``["reviews"]``,
        ``"namespace"`` or None — as ``istioctl waypoint apply`` and labelling services with
        ``istio.io/use-waypoint`` do. No app pod restarts: source ztunnels start (or stop)
        sending the services' traffic to the waypoint, which is deployed (or removed) as
        needed. Returns what changed."""
        self._require_running()
        e = enrollment.set_waypoints(self._enrollment, waypoints)
        r = self._enroll(e, self._plan(e, LabError))
        return {
            "enrolled": r["waypoint_for"],
            "unenrolled": r["no_waypoint_for"],
            "deployed": r["deployed"],
            "removed": r["removed"],
        }

    def _plan(self, e: "enrollment.Enrollment", error=LabError, **context) -> tuple:
        try:
            return enrollment.plan(self._base, e)
        except ValueError as err:
            raise error(str(err), **context) from None

    def _enroll(self, e: "enrollment.Enrollment", planned: tuple) -> dict:
        """Make the running lab match an enrollment (:func:`meshlab.enrollment.plan` of it):
        the one mechanism behind ``set_mode``, ``set_waypoints`` and applied Namespace,
        Service and Gateway objects. Returns what changed, pod by pod and service by service."""
        topo, new_mesh, new_of = planned
        old_mesh, old_of = self.mesh, self.waypoint_of
        changed = {
            p: (old_mesh.get(p), new_mesh.get(p))
            for p in {*old_mesh, *new_mesh}
            if old_mesh.get(p) != new_mesh.get(p)
        }
        apps = {p: ab for p, ab in changed.items() if "waypoint" not in ab}
        report = {
            "restarted": sorted(p for p, (a, b) in apps.items() if "sidecar" in (a, b)),
            "enrolled": sorted(p for p, (a, b) in apps.items() if b == "ambient"),
            "left": sorted(p for p, (a, b) in apps.items() if a and not b),
            "waypoint_for": sorted(
                f"{ns}/{s}" for (ns, s), wp in new_of.items() if old_of.get((ns, s)) != wp
            ),
            "no_waypoint_for": sorted(f"{ns}/{s}" for (ns, s) in old_of if (ns, s) not in new_of),
            "deployed": sorted(p for p, (a, b) in changed.items() if b == "waypoint"),
            "removed": sorted(p for p, (a, b) in changed.items() if a == "waypoint"),
        }
        running = self.running
        if running and report["deployed"]:
            self._sup.net = self.backend.replan(topo)
        self._enrollment = e
        self.topology, self.mesh, self.waypoint_of = topo, new_mesh, new_of
        self._sup.plan(topo, new_mesh, new_of)
        self.mode = mesh.describe(new_mesh)
        if not running or (not changed and old_of == new_of):
            return report
        if self.verbose and report["restarted"]:
            gain = [p for p in report["restarted"] if changed[p][1] == "sidecar"]
            lose = [p for p in report["restarted"] if changed[p][1] != "sidecar"]
            if gain:
                print(
                    "meshlab: sidecar injection happens when a pod is created, so these pods restart "
                    f"(as `kubectl rollout restart` would): {', '.join(gain)}"
                )
            if lose:
                print(
                    "meshlab: a pod keeps its sidecar until it is recreated, so these pods restart "
                    f"without one (as `kubectl rollout restart` would): {', '.join(lose)}"
                )
        quiet = [p for p in report["enrolled"] if p not in report["restarted"]]  # the others just restarted
        if self.verbose and quiet:
            print(f"meshlab: enrolled in ambient with no restart: {', '.join(quiet)}")
        if self.verbose and (report["waypoint_for"] or report["no_waypoint_for"]):
            print(
                f"meshlab: waypoint for {', '.join(report['waypoint_for']) or '-'}; none any more for "
                f"{', '.join(report['no_waypoint_for']) or '-'} (no app pod restarted)"
            )
        self._sup.enroll(report, apps, new_mesh)
        return report

    # -- Istio config ----------------------------------------------------------------------------
    def apply(self, source, *, file: str | None = None) -> list[str]:
        """Apply Istio YAML — text, a path, a dict, or a list of those; many documents at once —
        as ``kubectl apply`` would: every object is checked first, and only if all are fine do
        they take effect, reaching the running proxies at once (the lab's istiod pushes them).
        Namespace and Service objects set enrollment labels (``istio-injection``,
        ``istio.io/dataplane-mode``, ``istio.io/use-waypoint``) and a waypoint Gateway deploys a
        waypoint, on the running lab as ``set_mode`` and ``set_waypoints`` do.
        A rejected apply raises :class:`~meshlab.errors.PolicyError` and changes nothing.
        Returns ``kubectl``-style lines (``virtualservice/reviews -n default created``);
        warnings are printed and kept in ``lab.warnings``. Works before start() too."""
        objs = load_policies(source, file)
        new, report = self._store.applied(objs)
        enrolling = [o for o in objs if o.kind in enrollment.KINDS]
        e, planned = self._enrollment, (self.topology, self.mesh, self.waypoint_of)
        if enrolling:
            e = enrollment.applied(e, [o.doc for o in enrolling], self._base)
            o = enrolling[0]
            planned = self._plan(e, PolicyError, file=o.file, document=o.document, what=str(o))
        warnings = check(objs, LabView(*planned), new)  # raises for a namespace or service the lab lacks
        if enrolling:
            warnings += enrollment.missing_waypoints(self._base, e)
        self._push(new)
        self.warnings = warnings
        if enrolling:
            self._enroll(e, planned)
            # the lab's namespaces and services exist already: kubectl would say "configured"
            report = [
                line.replace(" created", " configured")
                if line.startswith(("namespace/", "service/"))
                else line
                for line in report
            ]
        for w in self.warnings:
            if self.verbose:
                print(f"meshlab: warning: {w}")
        return report

    def delete(
        self,
        source=None,
        *,
        kind: str | None = None,
        name: str | None = None,
        namespace: str = "default",
        all: bool = False,
    ) -> list[str]:
        """Delete Istio objects: the ones named in YAML (as ``kubectl delete -f``), one by
        ``kind`` and ``name``, or ``all=True``. Deleting something not in force is an error that
        changes nothing. Deleting a Namespace or Service object takes back its labels only (the
        lab's namespaces and services come from the topology; Kubernetes would delete them and
        everything in them); deleting a waypoint Gateway removes its waypoint."""
        if all:
            keys = [o.key for o in self._store.items]
        elif source is not None:
            keys = [o.key for o in load_policies(source)]
        elif kind and name:
            keys = [(kind, None if kind == "Namespace" else namespace, name)]
        else:
            raise LabError("say what to delete: YAML (text, path, dict) or kind= and name=")
        new, report = self._store.deleted(keys)
        gone = [o for o in self._store.items if o.key in keys and o.kind in enrollment.KINDS]
        e = enrollment.deleted(self._enrollment, [o.doc for o in gone], self._base)
        planned = self._plan(e, PolicyError, what=str(gone[0])) if gone else None
        self._push(new)
        if planned is not None:
            self._enroll(e, planned)
        notes = {
            "namespace/": " (the lab keeps it: its mesh labels return to the topology's)",
            "service/": " (the lab keeps it: its istio.io/use-waypoint label goes)",
        }
        return [line + next((n for p, n in notes.items() if line.startswith(p)), "") for line in report]

    def policies(self) -> list[PolicyObject]:
        """The Istio objects in force, oldest first (``o.doc`` is the YAML as applied; an applied
        Namespace shows its labels as they are now, after ``set_mode``)."""
        return self._store.objects

    def policies_yaml(self) -> str:
        """The objects in force as one multi-document YAML text, ready for ``kubectl apply -f``."""
        return yaml_of(self._store)

    def export(self, out_dir=None, *, command: str | None = None):
        """The lab as it stands — topology, enrollment (modes, waypoints) and the Istio objects
        in force — as the Kubernetes and Istio YAML a real cluster needs
        (:mod:`meshlab.export`). Returns the :class:`~meshlab.export.Manifests`; with
        ``out_dir`` it also writes them there, with the README of commands."""
        from ..export import manifests, write

        m = manifests(self._base, None, [o.doc for o in self._store.items], state=self._enrollment)
        if out_dir is not None:
            write(m, out_dir, command=command)
        return m

    def _policy_records(self) -> list[dict]:
        return [o.to_record() for o in self._store.items]

    def _push(self, new: PolicyStore) -> None:
        """Make ``new`` the config in force: on every running proxy, or restore the old one
        everywhere if a proxy cannot take it."""
        old, self._store = self._store, new
        try:
            self._sup.push([o.to_record() for o in old.items])
        except Exception:
            self._store = old
            raise
