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

import contextlib
import io
import traceback
from urllib.parse import urlsplit

import ipywidgets as w
import yaml as _yaml

from .errors import LabError, MeshlabError
from .policy import builder
from .viz import path_figure, runs_figure

MAX_REQUESTS = 2000
MAX_CONCURRENCY = 64
MAX_RUNS = 6  # latency lines kept on the runs plot
#: The retry-attempts dropdown's "Istio default" (no retries field written): a Dropdown shows
#: nothing at all for a value of None, so the default has a number of its own.
ISTIO_DEFAULT_ATTEMPTS = -1
#: What each mesh-wide mTLS choice means (a PeerAuthentication in the root namespace, or none).
MTLS_LABELS = {
    "UNSET": "UNSET: no policy (Istio's default, PERMISSIVE)",
    "PERMISSIVE": "PERMISSIVE: mTLS and plaintext accepted",
    "STRICT": "STRICT: mTLS only, plaintext refused",
    "DISABLE": "DISABLE: no mTLS (sidecars; ambient ignores it)",
}


def mode_yaml(namespaces: list[str], mode: str) -> str:
    """The Namespace labels that put these namespaces in ``mode``, as YAML."""
    return _dump(builder.namespace_labels(namespaces, mode))


def waypoint_yaml(namespace: str, services: list[str]) -> str:
    """A waypoint Gateway (as ``istioctl waypoint generate``) and the services' enrollment labels."""
    if not services:
        return "# no service uses a waypoint"
    return _dump(
        [
            builder.waypoint_gateway(namespace=namespace),
            *(builder.use_waypoint(s, namespace) for s in services),
        ]
    )


def _dump(docs: list[dict]) -> str:
    return _yaml.safe_dump_all(docs, sort_keys=False).strip()


class ControlPanel(w.VBox):
    def __init__(self, lab):
        self.lab = lab
        services = sorted({s.name for s in lab.topology.services})
        entry = (
            lab.topology.resolve_service(urlsplit(lab.topology.entry.url).hostname or "", "default")
            if lab.topology.entry
            else None
        )
        wide = {"description_width": "9em"}
        self.mode = w.Dropdown(
            options=self._mode_options(lab.mode), value=lab.mode, description="mesh mode", style=wide
        )
        self.waypoints = w.SelectMultiple(
            options=services,
            value=tuple(s for (_, s) in lab.waypoint_of),
            description="waypoint for",
            rows=min(5, len(services)),
            style=wide,
        )
        # -- traffic policy for one service (a VirtualService) and the mesh's mTLS mode ----------
        names = [x.name for x in lab.topology.services]
        targets = [
            (x.name if names.count(x.name) == 1 else f"{x.name}.{x.namespace}", (x.namespace, x.name))
            for x in lab.topology.services
        ]  # a name twice (two namespaces): say which
        self.service = w.Dropdown(
            options=targets,
            value=(entry.namespace, entry.name) if entry else targets[0][1],
            description="policy for",
            style=wide,
        )
        self.attempts = w.Dropdown(
            options=[("Istio default", ISTIO_DEFAULT_ATTEMPTS)] + [(str(n), n) for n in range(0, 6)],
            value=ISTIO_DEFAULT_ATTEMPTS,
            description="retry attempts",
            style=wide,
        )
        self.per_try_timeout = w.BoundedFloatText(
            value=0, min=0, max=30, step=0.1, description="perTryTimeout s", style=wide
        )
        self.retry_on = w.SelectMultiple(
            options=sorted(builder.RETRY_ON), value=(), rows=4, description="retryOn", style=wide
        )
        self.timeout = w.BoundedFloatText(
            value=0,
            min=0,
            max=60,
            step=0.1,
            description="timeout s",
            tooltip="the route's timeout in seconds; 0: none (Istio's default)",
            style=wide,
        )
        self.delay_percent = w.FloatSlider(
            value=0, min=0, max=100, step=5, description="delay %", continuous_update=False, style=wide
        )
        self.delay_s = w.BoundedFloatText(
            value=1.0, min=0, max=30, step=0.1, description="delay s", style=wide
        )
        self.abort_percent = w.FloatSlider(
            value=0, min=0, max=100, step=5, description="abort %", continuous_update=False, style=wide
        )
        self.abort_status = w.BoundedIntText(
            value=503, min=200, max=599, description="abort status", style=wide
        )
        self.weights = w.VBox()
        self.mtls = w.Dropdown(
            options=[(MTLS_LABELS[m], m) for m in builder.MTLS_MODES],
            value=self._mtls_in_force(),
            description="mesh mTLS",
            style=wide,
            layout=w.Layout(width="32em"),
        )
        # -- traffic ----------------------------------------------------------------------------
        self.requests = w.BoundedIntText(value=100, min=1, max=MAX_REQUESTS, description="requests")
        self.concurrency = w.BoundedIntText(value=4, min=1, max=MAX_CONCURRENCY, description="connections")
        self.auto_send = w.Checkbox(value=True, description="send after each change")
        self.send = w.Button(description="send traffic", button_style="primary", icon="paper-plane")
        self.yaml = w.Textarea(
            layout=w.Layout(width="100%", height="12em"), disabled=True, description="as YAML"
        )
        self.status = w.HTML()
        self.error = w.HTML()
        self.notes = w.HTML()  # what the lab said while doing it (restarts, waypoints)
        self.plot = w.Output()
        self.runs_plot = w.Output()
        self.last_result = None
        self.last_figure = None
        self.runs_figure = None
        self.runs: list[dict] = []
        self.last_error: str | None = None
        self._quiet = False
        self.busy = False
        self.doing = ""
        self.refused: str | None = None  # an action turned away while another one ran
        self._change: str | None = None  # what changed since the last run (for its label)
        self._rebuild_weights()
        self.mode.observe(self._on_mode, names="value")
        self.waypoints.observe(self._on_waypoints, names="value")
        self.service.observe(self._on_service, names="value")
        for control in (
            self.attempts,
            self.per_try_timeout,
            self.retry_on,
            self.timeout,
            self.delay_percent,
            self.delay_s,
            self.abort_percent,
            self.abort_status,
        ):
            control.observe(self._on_policy, names="value")
        self.mtls.observe(self._on_mtls, names="value")
        self.send.on_click(self._on_send)
        self._sync()
        policy = w.Accordion(
            children=[
                w.VBox(
                    [
                        self.service,
                        w.HBox(
                            [
                                w.VBox([self.attempts, self.per_try_timeout, self.retry_on]),
                                w.VBox(
                                    [
                                        self.timeout,
                                        self.delay_percent,
                                        self.delay_s,
                                        self.abort_percent,
                                        self.abort_status,
                                    ]
                                ),
                            ]
                        ),
                        w.HTML(
                            "<small>timeout 0 s: no timeout (Istio's default). Retry attempts: <i>Istio default</i> is "
                            "2 retries on connect-failure, refused-stream, unavailable, cancelled, "
                            "retriable-status-codes; "
                            "an empty retryOn with a number keeps those conditions.</small>"
                        ),
                        w.HTML(
                            "<details><summary><small>what each retryOn condition retries (Envoy)</small></summary>"
                            "<small>"
                            + "<br>".join(
                                f"<b>{k}</b>: {_html(builder.RETRY_ON_MEANING[k])}"
                                for k in sorted(builder.RETRY_ON)
                            )
                            + "</small></details>"
                        ),
                        w.HTML(
                            "<b>traffic weights</b> by version (a DestinationRule defines the subsets; all 0: no split)"
                        ),
                        self.weights,
                        self.mtls,
                        w.HTML(
                            "<small>mesh mTLS is a PeerAuthentication in istio-system: what servers accept. "
                            "Clients in the "
                            "mesh send mTLS whenever the server has a proxy (auto mTLS).</small>"
                        ),
                    ]
                )
            ]
        )
        policy.set_title(0, "traffic policy (VirtualService, DestinationRule, PeerAuthentication)")
        super().__init__(
            [
                w.HBox([self.mode, self.waypoints]),
                policy,
                w.HBox([self.requests, self.concurrency, self.auto_send, self.send]),
                self.yaml,
                self.error,
                self.status,
                self.notes,
                self.plot,
                self.runs_plot,
            ]
        )

    # -- what the widgets say -------------------------------------------------------------------
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

    # -- callbacks: each one calls the lab, shows the YAML, sends and redraws ---------------------
    def _controls(self) -> list:
        """Every control a learner can change."""
        return [
            self.mode,
            self.waypoints,
            self.service,
            self.attempts,
            self.per_try_timeout,
            self.retry_on,
            self.timeout,
            self.delay_percent,
            self.delay_s,
            self.abort_percent,
            self.abort_status,
            self.mtls,
            self.requests,
            self.concurrency,
            self.auto_send,
            self.send,
            *[c for c in self.weights.children if isinstance(c, w.IntSlider)],
        ]

    def _guard(self, action, doing: str = "working"):
        """Run one action: the panel shows it is busy (every control disabled, what it is doing in
        the status line) until the action is done, then shows the lab's real state again — after an
        error too. What the lab prints meanwhile (pods restarted, waypoints) goes to the panel's
        notes, not to JupyterLab's log console. The kernel runs one widget callback at a time, so
        a click made while busy waits its turn; an action that starts while another one runs (a
        callback that re-enters) is refused with a message."""
        if self.busy:
            self.refused = (
                f"not done: the panel is still busy ({self.doing}); wait until it is done, then try again"
            )
            self.error.value = f"<div style='color:#D55E00'>{_html(self.refused)}</div>"
            return None
        self.doing, self.refused = doing, None
        self.busy = True
        self.last_error = None
        self.error.value = self.notes.value = ""
        controls = self._controls()
        for c in controls:
            c.disabled = True
        self.status.value = f"<i>⏳ {_html(doing)}… (the panel waits until this is done)</i>"
        said = io.StringIO()
        try:
            with contextlib.redirect_stdout(said):
                return action()
        except MeshlabError as e:
            self.last_error = str(e)
        except Exception as e:  # noqa: BLE001 - the panel must survive any failure and say what it was
            self.last_error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
        finally:
            self.busy = False
            for c in controls:
                c.disabled = False
            self._sync()
            self._note(said.getvalue())
            if self.last_error is not None:
                self._show_error(self.last_error)
        return None

    def _show_error(self, message: str) -> None:
        """The first line of an error, and the rest (a pod's log tail, a traceback) folded away."""
        first, _, rest = message.strip().partition("\n")
        self.error.value = (
            f"<div style='color:#D55E00'><b>{_html(first)}</b>"
            + (
                f"<details><summary>details</summary><pre>{_html(rest)}</pre></details>"
                if rest.strip()
                else ""
            )
            + "</div>"
        )
        if self.status.value.startswith("<i>⏳"):
            self.status.value = f"<span style='color:#D55E00'>not done</span> · mode {self.lab.mode}"

    def _note(self, text: str) -> None:
        lines = list(dict.fromkeys(x.removeprefix("meshlab: ") for x in text.splitlines() if x.strip()))
        if lines:
            self.notes.value = (
                "<div style='color:#555'>" + "<br>".join(f"ℹ {_html(x)}" for x in lines) + "</div>"
            )

    def _after_change(self, label: str) -> None:
        self._change = label
        if self.auto_send.value:
            note = self.status.value
            self._send_traffic()
            self.status.value = f"{note} · then {self.status.value}"

    def _on_mode(self, change) -> None:
        if self._quiet:
            return

        def act():
            had = {name for (_, name) in self.lab.waypoint_of}
            report = self.lab.set_mode(change["new"])
            self.yaml.value = mode_yaml([n.name for n in self.lab.topology.namespaces], change["new"])
            restarted = report["restarted"]
            self.status.value = f"mode {self.lab.mode}: " + (
                f"restarted {len(restarted)} pods (sidecar injection)" if restarted else "no pod restarted"
            )
            said = []
            if restarted:
                said.append(
                    "sidecar injection happens when a pod is created, so these pods restarted (as "
                    f"kubectl rollout restart would): {', '.join(restarted)}"
                )
            if report["enrolled"]:
                said.append(
                    f"enrolled in ambient with no restart (ztunnel captures their traffic): "
                    f"{', '.join(report['enrolled'])}"
                )
            dropped = had - {name for (_, name) in self.lab.waypoint_of}
            if dropped:
                said.append(
                    f"no waypoint any more for {', '.join(sorted(dropped))}: waypoints serve ambient "
                    "pods only, so leaving ambient removed them"
                )
            if not self.lab.verbose:  # (a verbose lab says all this itself)
                print("\n".join(said))
            self._after_change(f"mode {self.lab.mode}")

        self._guard(act, f"switching the mesh mode to {change['new']}")

    def _on_waypoints(self, change) -> None:
        if self._quiet:
            return

        def act():
            chosen = list(change["new"])
            self.lab.set_waypoints(chosen or None)
            namespaces = {s.namespace for s in self.lab.topology.services if s.name in chosen} or {"default"}
            self.yaml.value = "\n---\n".join(waypoint_yaml(ns, chosen) for ns in sorted(namespaces))
            self.status.value = f"waypoint for: {', '.join(chosen) or 'no service'} (no pod restarted)"
            self._after_change(f"waypoint for {', '.join(chosen) or 'none'}")

        self._guard(act, f"setting waypoints for {', '.join(change['new']) or 'no service'}")

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
                _dump(docs)
                if docs
                else f"# no VirtualService for {s.host}: Istio's defaults (2 retries on "
                "connect-failure, refused-stream, unavailable, cancelled; no timeout)"
            )
            self.yaml.value = (
                shown
                + "".join(f"\n# {line}" for line in lines)
                + "".join(f"\n# warning: {x}" for x in self.lab.warnings if vs is not None)
            )
            self.status.value = f"{s.host}: {_describe(s)}"
            self._after_change(f"{s.host}: {_describe(s)}")

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
                (_dump([pa]) if pa else "# no mesh-wide PeerAuthentication: PERMISSIVE, Istio's default")
                + "".join(f"\n# {line}" for line in lines)
                + "".join(f"\n# warning: {x}" for x in self.lab.warnings)
            )
            self.status.value = f"mesh-wide mTLS: {change['new']}"
            self._after_change(f"mTLS {change['new']}")

        self._guard(act, f"setting mesh-wide mTLS to {change['new']}")

    def _on_send(self, _button=None) -> None:
        self._guard(
            self._send_traffic,
            f"sending {self.requests.value} requests over {self.concurrency.value} connections",
        )

    def _send_traffic(self) -> None:
        res = self.lab.load(requests=self.requests.value, concurrency=self.concurrency.value, progress=False)
        s = res.summary()
        lat = s["latency_ms"]
        partial = s["requests"]["partial"]
        self.status.value = (
            f"<b>{s['requests']['ok']}/{s['requests']['sent']} ok</b>"
            + (f" ({partial} of them partial: an app's error text in the page)" if partial else "")
            + f" · p50 {lat['p50']:.2f} ms · p90 {lat['p90']:.2f} ms · p99 {lat['p99']:.2f} ms"
            f" · mode {self.lab.mode}"
        )
        self.last_result = res
        # each run is named by the data plane it measured, and what changed before it, if anything
        plane = self.lab.data_plane
        label = plane if self._change is None else f"{plane}, after {self._change}"
        self.runs = (
            self.runs
            + [
                {
                    "label": label,
                    "latencies_ms": res.latencies_ms(),
                    "ok": s["requests"]["ok"],
                    "sent": s["requests"]["sent"],
                }
            ]
        )[-MAX_RUNS:]
        self._change = None
        self.runs_figure = runs_figure(self.runs)
        self._show(self.runs_plot, self.runs_figure)
        path = next(iter(res.paths.values()), None)
        if path is not None:
            self.last_figure = path_figure(
                path, title=f"one of the {s['requests']['sent']} requests, mode {self.lab.mode}"
            )
            self._show(self.plot, self.last_figure)

    @staticmethod
    def _show(out: w.Output, fig) -> None:
        from IPython import get_ipython

        if get_ipython() is not None:  # in a notebook: show it; elsewhere keep it
            from IPython.display import display

            out.clear_output(wait=True)  # (outside IPython it prints terminal escapes)
            with out:
                display(fig)

    @staticmethod
    def _mode_options(mode: str) -> list:
        return [
            *builder.MODES,
            *([(f"{mode} (set per namespace)", mode)] if mode not in builder.MODES else []),
        ]

    def _sync(self) -> None:
        """Make every control show what the lab really is now — its mode, its waypoints, the
        mesh-wide mTLS in force — whatever was clicked meanwhile, and after an error too."""
        lab = self.lab
        self._quiet = True
        try:
            if not lab.running:
                for c in self._controls():
                    c.disabled = c is not self.send  # a send says the lab is not running
                return
            options = self._mode_options(lab.mode)
            if list(self.mode.options) != options:
                self.mode.options = options
            if self.mode.value != lab.mode:
                self.mode.value = lab.mode
            chosen = tuple(
                s for s in self.waypoints.options if any(name == s for (_, name) in lab.waypoint_of)
            )
            if tuple(self.waypoints.value) != chosen:
                self.waypoints.value = chosen
            self.waypoints.disabled = lab.mode != "ambient"
            mtls = self._mtls_in_force()
            if self.mtls.value != mtls:
                self.mtls.value = mtls
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
