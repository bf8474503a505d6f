"""The control panel itself: its controls, laid out, and what each one does to the lab — a mode or
waypoint change calls the lab, a policy change becomes Istio objects written by
:mod:`meshlab.policy.builder` and applied with ``lab.apply``, then traffic is sent and the plots
redrawn (:mod:`meshlab.viz`)."""

from __future__ import annotations

from urllib.parse import urlsplit

import ipywidgets as w

from ..policy import builder
from ..viz import path_figure, runs_figure
from .guard import GuardedPanel
from .trafficpolicy import ISTIO_DEFAULT_ATTEMPTS, TrafficPolicySection
from .texts import (
    MTLS_HELP,
    MTLS_LABELS,
    RETRY_HELP,
    WEIGHTS_HEADING,
    mode_yaml,
    retry_on_help,
    waypoint_yaml,
)

MAX_REQUESTS = 2000
MAX_CONCURRENCY = 64
MAX_RUNS = 6  # latency lines kept on the runs plot


class ControlPanel(TrafficPolicySection, GuardedPanel):
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
                        w.HTML(RETRY_HELP),
                        w.HTML(retry_on_help()),
                        w.HTML(WEIGHTS_HEADING),
                        self.weights,
                        self.mtls,
                        w.HTML(MTLS_HELP),
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
    # -- callbacks: each one calls the lab, shows the YAML, sends and redraws ---------------------
    # (the traffic-policy section's are in .trafficpolicy)
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
                    (
                        "sidecar injection happens when a pod is created, so these pods restarted"
                        if change["new"] == "sidecar"
                        else "a pod keeps its sidecar until it is recreated, so these pods restarted without one"
                    )
                    + f" (as kubectl rollout restart would): {', '.join(restarted)}"
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
