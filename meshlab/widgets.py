"""A control panel bound to a running lab: mesh mode, waypoints, traffic policy, "send traffic".

The widgets hold no mesh logic: a mode or waypoint change calls the lab (``set_mode``,
``set_waypoints``); a policy change — retries, timeout, faults, traffic weights for one service,
the mesh-wide mTLS mode — becomes Istio objects (:mod:`meshlab.policy.builder`) that the panel
applies with ``lab.apply`` like any learner's YAML, and shows. After each change the panel sends
traffic (unless "send after each change" is off) and redraws one request's path and the latency
of every run so far (:mod:`meshlab.viz`). Every error lands in the panel's error area, never in
a lost callback traceback, and the lab keeps what it had.

    from meshlab.widgets import ControlPanel
    ControlPanel(lab)          # in a notebook cell
"""

from __future__ import annotations

import traceback
from urllib.parse import urlsplit

import ipywidgets as w
import yaml as _yaml

from .errors import LabError, MeshlabError
from .policy import builder
from .policy.loader import RETRY_ON
from .viz import path_figure, runs_figure

MAX_REQUESTS = 2000
MAX_CONCURRENCY = 64
MAX_RUNS = 6                      # latency lines kept on the runs plot


def mode_yaml(namespaces: list[str], mode: str) -> str:
    """The Namespace labels that put these namespaces in ``mode``, as YAML."""
    label = {"none": "{}", "sidecar": "{istio-injection: enabled}",
             "ambient": "{istio.io/dataplane-mode: ambient}"}[mode]
    return "\n---\n".join(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels: {label}"
                          for ns in namespaces)


def waypoint_yaml(namespace: str, services: list[str]) -> str:
    """A waypoint Gateway (as ``istioctl waypoint generate``) and the services' enrollment labels."""
    if not services:
        return "# no service uses a waypoint"
    docs = [f"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: waypoint\n"
            f"  namespace: {namespace}\n  labels: {{istio.io/waypoint-for: service}}\nspec:\n"
            f"  gatewayClassName: istio-waypoint\n  listeners: [{{name: mesh, port: 15008, protocol: HBONE}}]"]
    docs += [f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {s}\n  namespace: {namespace}\n"
             f"  labels: {{istio.io/use-waypoint: waypoint}}" for s in services]
    return "\n---\n".join(docs)


def _dump(docs: list[dict]) -> str:
    return _yaml.safe_dump_all(docs, sort_keys=False).strip()


class ControlPanel(w.VBox):
    def __init__(self, lab):
        self.lab = lab
        services = sorted({s.name for s in lab.topology.services})
        entry = lab.topology.resolve_service(urlsplit(lab.topology.entry.url).hostname or "", "default") \
            if lab.topology.entry else None
        self.mode = w.Dropdown(options=["none", "sidecar", "ambient"],
                               value=lab.mode if lab.mode in ("none", "sidecar", "ambient") else "none",
                               description="mesh mode")
        self.waypoints = w.SelectMultiple(options=services, value=tuple(
            s for (_, s) in lab.waypoint_of), description="waypoint for", rows=min(5, len(services)))
        # -- traffic policy for one service (a VirtualService) and the mesh's mTLS mode ----------
        wide = {"description_width": "9em"}
        names = [x.name for x in lab.topology.services]
        targets = [(x.name if names.count(x.name) == 1 else f"{x.name}.{x.namespace}", (x.namespace, x.name))
                   for x in lab.topology.services]                  # a name twice (two namespaces): say which
        self.service = w.Dropdown(options=targets, value=(entry.namespace, entry.name) if entry else targets[0][1],
                                  description="policy for", style=wide)
        self.attempts = w.Dropdown(options=[("Istio default", None)] + [(str(n), n) for n in range(0, 6)],
                                   value=None, description="retry attempts", style=wide)
        self.per_try_timeout = w.BoundedFloatText(value=0, min=0, max=30, step=0.1, description="perTryTimeout s",
                                                  style=wide)
        self.retry_on = w.SelectMultiple(options=sorted(RETRY_ON), value=(), rows=4, description="retryOn",
                                         style=wide)
        self.timeout = w.BoundedFloatText(value=0, min=0, max=60, step=0.1, description="timeout s (0: none)",
                                          style=wide)
        self.delay_percent = w.FloatSlider(value=0, min=0, max=100, step=5, description="delay %",
                                           continuous_update=False, style=wide)
        self.delay_s = w.BoundedFloatText(value=1.0, min=0, max=30, step=0.1, description="delay s", style=wide)
        self.abort_percent = w.FloatSlider(value=0, min=0, max=100, step=5, description="abort %",
                                           continuous_update=False, style=wide)
        self.abort_status = w.BoundedIntText(value=503, min=200, max=599, description="abort status", style=wide)
        self.weights = w.VBox()
        self.mtls = w.Dropdown(options=list(builder.MTLS_MODES), value=self._mtls_in_force(),
                               description="mesh mTLS", style=wide)
        # -- traffic ----------------------------------------------------------------------------
        self.requests = w.BoundedIntText(value=100, min=1, max=MAX_REQUESTS, description="requests")
        self.concurrency = w.BoundedIntText(value=4, min=1, max=MAX_CONCURRENCY, description="connections")
        self.auto_send = w.Checkbox(value=True, description="send after each change")
        self.send = w.Button(description="send traffic", button_style="primary", icon="paper-plane")
        self.yaml = w.Textarea(layout=w.Layout(width="100%", height="12em"), disabled=True,
                               description="as YAML")
        self.status = w.HTML()
        self.error = w.HTML()
        self.plot = w.Output()
        self.runs_plot = w.Output()
        self.last_result = None
        self.last_figure = None
        self.runs_figure = None
        self.runs: list[dict] = []
        self.last_error: str | None = None
        self._quiet = False
        self._change = "as it was"                 # the label of the next run on the runs plot
        self._rebuild_weights()
        self.mode.observe(self._on_mode, names="value")
        self.waypoints.observe(self._on_waypoints, names="value")
        self.service.observe(self._on_service, names="value")
        for control in (self.attempts, self.per_try_timeout, self.retry_on, self.timeout, self.delay_percent,
                        self.delay_s, self.abort_percent, self.abort_status):
            control.observe(self._on_policy, names="value")
        self.mtls.observe(self._on_mtls, names="value")
        self.send.on_click(self._on_send)
        self._sync()
        policy = w.Accordion(children=[w.VBox([
            self.service,
            w.HBox([w.VBox([self.attempts, self.per_try_timeout, self.retry_on]),
                    w.VBox([self.timeout, self.delay_percent, self.delay_s, self.abort_percent, self.abort_status])]),
            w.HTML("<b>traffic weights</b> by version (a DestinationRule defines the subsets; all 0: no split)"),
            self.weights, self.mtls])])
        policy.set_title(0, "traffic policy (VirtualService, DestinationRule, PeerAuthentication)")
        super().__init__([w.HBox([self.mode, self.waypoints]), policy,
                          w.HBox([self.requests, self.concurrency, self.auto_send, self.send]),
                          self.yaml, self.error, self.status, self.plot, self.runs_plot])

    # -- what the widgets say -------------------------------------------------------------------
    def route_settings(self) -> builder.RouteSettings:
        ns, name = self.service.value
        svc = next(s for s in self.lab.topology.services if (s.namespace, s.name) == (ns, name))
        return builder.RouteSettings(
            svc.name, svc.namespace, attempts=self.attempts.value, per_try_timeout_s=self.per_try_timeout.value or None,
            retry_on=tuple(self.retry_on.value), timeout_s=self.timeout.value or None,
            delay_percent=self.delay_percent.value, delay_s=self.delay_s.value,
            abort_percent=self.abort_percent.value, abort_status=self.abort_status.value,
            weights={c.description: c.value for c in self.weights.children if isinstance(c, w.IntSlider)})

    def _mtls_in_force(self) -> str:
        pa = self._in_force("PeerAuthentication", builder.ROOT_NAMESPACE, "default")
        return (pa.spec.get("mtls") or {}).get("mode", "UNSET") if pa else "UNSET"

    def _rebuild_weights(self) -> None:
        ns, name = self.service.value
        subsets = builder.versions(self.lab.topology, name, ns)
        sliders = [w.IntSlider(value=0, min=0, max=100, step=10, description=v, continuous_update=False)
                   for v in subsets] if len(subsets) > 1 else []
        for c in sliders:
            c.observe(self._on_policy, names="value")
        self.weights.children = sliders or [w.HTML(f"<i>{name} has one version: nothing to split</i>")]

    # -- callbacks: each one calls the lab, shows the YAML, sends and redraws ---------------------
    def _guard(self, action):
        self.last_error = None
        self.error.value = ""
        try:
            return action()
        except MeshlabError as e:
            self.last_error = str(e)
        except Exception as e:  # noqa: BLE001 - the panel must survive any failure and say what it was
            self.last_error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
        self.error.value = f"<pre style='color:#D55E00'>{_html(self.last_error)}</pre>"
        self._sync()
        return None

    def _after_change(self, label: str) -> None:
        self._change = label
        if self.auto_send.value:
            note = self.status.value
            self._on_send()
            if self.last_error is None:
                self.status.value = f"{note} · then {self.status.value}"

    def _on_mode(self, change) -> None:
        def act():
            report = self.lab.set_mode(change["new"])
            self.yaml.value = mode_yaml([n.name for n in self.lab.topology.namespaces], change["new"])
            restarted = report["restarted"]
            self.status.value = (f"mode {self.lab.mode}: " + (f"restarted {len(restarted)} pods (sidecar injection)"
                                 if restarted else "no pod restarted"))
            self._sync()
            self._after_change(f"mode {self.lab.mode}")
        self._guard(act)

    def _on_waypoints(self, change) -> None:
        def act():
            chosen = list(change["new"])
            self.lab.set_waypoints(chosen or None)
            namespaces = {s.namespace for s in self.lab.topology.services if s.name in chosen} or {"default"}
            self.yaml.value = "\n---\n".join(waypoint_yaml(ns, chosen) for ns in sorted(namespaces))
            self.status.value = f"waypoint for: {', '.join(chosen) or 'no service'} (no pod restarted)"
            self._after_change(f"waypoint for {', '.join(chosen) or 'none'}")
        self._guard(act)

    def _on_service(self, change) -> None:
        """Another service's policy: start from Istio's defaults (the panel applies nothing yet)."""
        self._quiet = True
        try:
            self.attempts.value, self.per_try_timeout.value, self.retry_on.value = None, 0, ()
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
            if any(s.weights.values()) and not self._subsets_defined(s):
                self._leave_learners_yaml_alone("DestinationRule", s.namespace, s.host)
                docs.append(builder.destination_rule(s.host, s.namespace,
                                                     builder.versions(self.lab.topology, s.host, s.namespace)))
            if vs is not None:
                docs.append(vs)
                lines = self.lab.apply(docs)
            elif self._in_force("VirtualService", s.namespace, s.host):
                lines = self.lab.delete(kind="VirtualService", name=s.host, namespace=s.namespace)
            else:
                lines = []
            shown = _dump(docs) if docs else f"# no VirtualService for {s.host}: Istio's defaults (2 retries on " \
                                             "connect-failure, refused-stream, unavailable, cancelled; no timeout)"
            self.yaml.value = shown + "".join(f"\n# {line}" for line in lines) + \
                "".join(f"\n# warning: {x}" for x in self.lab.warnings if vs is not None)
            self.status.value = f"{s.host}: {_describe(s)}"
            self._after_change(f"{s.host}: {_describe(s)}")
        self._guard(act)

    def _leave_learners_yaml_alone(self, kind: str, namespace: str, name: str) -> None:
        """The panel changes only the objects it wrote: one a learner applied is theirs."""
        mine = self._in_force(kind, namespace, name)
        if mine is not None and not builder.written_by_panel(mine.doc):
            raise LabError(f"{kind} {namespace}/{name} is YAML you applied, so the panel leaves it alone. "
                           f"To set it from here, delete it first: lab.delete(kind={kind!r}, name={name!r}, "
                           f"namespace={namespace!r})")

    def _in_force(self, kind: str, namespace: str, name: str):
        """The object of that kind and name the lab has in force, or None."""
        return next((o for o in self.lab.policies() if o.key == (kind, namespace, name)), None)

    def _subsets_defined(self, s: builder.RouteSettings) -> bool:
        from .policy.routing import destination_rule_for, fqdn, subset_labels
        dr = destination_rule_for(self.lab.policies(), fqdn(s.host, s.namespace))
        return all(subset_labels(dr, name) is not None for name, weight in s.weights.items() if weight)

    def _on_mtls(self, change) -> None:
        if self._quiet:
            return

        def act():
            self._leave_learners_yaml_alone("PeerAuthentication", builder.ROOT_NAMESPACE, "default")
            pa = builder.peer_authentication(change["new"])
            if pa is not None:
                lines = self.lab.apply(pa)
            elif self._in_force("PeerAuthentication", builder.ROOT_NAMESPACE, "default"):
                lines = self.lab.delete(kind="PeerAuthentication", name="default", namespace=builder.ROOT_NAMESPACE)
            else:
                lines = []
            self.yaml.value = (_dump([pa]) if pa else "# no mesh-wide PeerAuthentication: PERMISSIVE, Istio's default") \
                + "".join(f"\n# {line}" for line in lines) + "".join(f"\n# warning: {x}" for x in self.lab.warnings)
            self.status.value = f"mesh-wide mTLS: {change['new']}"
            self._after_change(f"mTLS {change['new']}")
        self._guard(act)

    def _on_send(self, _button=None) -> None:
        def act():
            self.status.value = f"sending {self.requests.value} requests over {self.concurrency.value} connections…"
            res = self.lab.load(requests=self.requests.value, concurrency=self.concurrency.value, progress=False)
            s = res.summary()
            lat = s["latency_ms"]
            partial = s["requests"]["partial"]
            self.status.value = (f"<b>{s['requests']['ok']}/{s['requests']['sent']} ok</b>"
                                 + (f" ({partial} of them partial: an app's error text in the page)" if partial else "")
                                 + f" · p50 {lat['p50']:.2f} ms · p90 {lat['p90']:.2f} ms · p99 {lat['p99']:.2f} ms"
                                 f" · mode {self.lab.mode}")
            self.last_result = res
            self.runs = (self.runs + [{"label": self._change, "latencies_ms": res.latencies_ms(),
                                       "ok": s["requests"]["ok"], "sent": s["requests"]["sent"]}])[-MAX_RUNS:]
            self._change = "no change"
            self.runs_figure = runs_figure(self.runs)
            self._show(self.runs_plot, self.runs_figure)
            path = next(iter(res.paths.values()), None)
            if path is not None:
                self.last_figure = path_figure(path, title=f"one of the {s['requests']['sent']} requests, mode {self.lab.mode}")
                self._show(self.plot, self.last_figure)
        self._guard(act)

    @staticmethod
    def _show(out: w.Output, fig) -> None:
        from IPython import get_ipython
        if get_ipython() is not None:            # in a notebook: show it; elsewhere keep it
            from IPython.display import display
            out.clear_output(wait=True)          # (outside IPython it prints terminal escapes)
            with out:
                display(fig)

    def _sync(self) -> None:
        """Show what the lab really is now (after an error too)."""
        self.waypoints.disabled = self.lab.mode != "ambient"
        self._quiet = True
        try:
            self.mtls.value = self._mtls_in_force()
        finally:
            self._quiet = False


def _describe(s: builder.RouteSettings) -> str:
    if s.is_default:
        return "Istio's defaults"
    parts = []
    if s.attempts is not None:
        parts.append(f"{s.attempts} retries" + (f" on {','.join(s.retry_on)}" if s.retry_on else ""))
    if s.timeout_s:
        parts.append(f"timeout {s.timeout_s:g} s")
    if s.delay_percent:
        parts.append(f"delay {s.delay_s:g} s on {s.delay_percent:g}%")
    if s.abort_percent:
        parts.append(f"abort {s.abort_status} on {s.abort_percent:g}%")
    if any(s.weights.values()):
        parts.append("weights " + "/".join(f"{k} {v}" for k, v in s.weights.items() if v))
    return ", ".join(parts)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
