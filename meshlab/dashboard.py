"""The dashboard (a Voilà app: ``notebooks/dashboard/dashboard.ipynb``): explore a recorded run
with no lab, or drive a live one.

*Recordings*: pick a shipped recording (made on mininet, :mod:`meshlab.replay`) or open your own
(``meshlab run ... --record FILE``), pick one of its runs and one of its requests, and see that
request's path on the topology and hop by hop, the latency of every run, and what the proxies
cost. Every figure carries the recording's label (backend, date, machine). *Live lab*: start
Bookinfo on this machine and get the control panel (:class:`meshlab.widgets.ControlPanel`).

The widgets hold no logic: the figures are :mod:`meshlab.viz`'s, drawn from the recording's
result objects; errors land in the dashboard's message line.

    from meshlab.dashboard import Dashboard
    Dashboard()
"""

from __future__ import annotations

import html

import ipywidgets as w

from . import replay, viz
from .telemetry.stats import min_samples

PICKS = ("slowest ok", "first", "first failed")


def _png(fig) -> bytes:
    return viz.figure_png(fig)


class Dashboard(w.VBox):
    def __init__(self, recording: str | None = None):
        names = replay.shipped()
        first = recording or ("three-flows" if "three-flows" in names else (names[0] if names else None))
        self.recording = w.Dropdown(
            options=names,
            value=first,
            description="recording",
            style={"description_width": "7em"},
            layout=w.Layout(width="22em"),
        )
        self.upload = w.FileUpload(accept=".json,.gz", multiple=False, description="open a file")
        self.run = w.Dropdown(
            description="run", style={"description_width": "3em"}, layout=w.Layout(width="24em")
        )
        self.pick = w.Dropdown(
            options=PICKS,
            value="slowest ok",
            description="request",
            style={"description_width": "5em"},
            layout=w.Layout(width="16em"),
        )
        self.label = w.HTML()
        self.message = w.HTML()
        self.summary = w.HTML()
        self.topology_image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.path_image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.latency_image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.cost_image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.rec: replay.Recording | None = None
        self.live = w.VBox(
            [
                w.HTML(
                    "Start Bookinfo on this machine (the loopback backend; about a second) and "
                    "drive it with the control panel: mesh mode, waypoints, retries, faults, mTLS."
                )
            ]
        )
        self.start_button = w.Button(description="start a live lab", button_style="primary")
        self.live.children += (self.start_button,)
        self.lab = None
        recorded = w.VBox(
            [
                w.HBox([self.recording, self.upload]),
                self.label,
                w.HBox([self.run, self.pick]),
                self.summary,
                self.message,
                w.HTML("<b>The request's path on the topology</b>"),
                self.topology_image,
                w.HTML("<b>Hop by hop</b>"),
                self.path_image,
                w.HTML("<b>Latency of every run</b>"),
                self.latency_image,
                w.HTML("<b>What the proxies cost</b>"),
                self.cost_image,
            ]
        )
        self.tabs = w.Tab(children=[recorded, self.live])
        self.tabs.set_title(0, "recordings")
        self.tabs.set_title(1, "live lab")
        super().__init__([w.HTML("<h2>meshlab: sidecar and ambient, measured</h2>"), self.tabs])
        self.recording.observe(lambda _: self._guard(self._open_shipped), "value")
        self.upload.observe(lambda _: self._guard(self._open_upload), "value")
        self.run.observe(lambda _: self._guard(self._draw_run), "value")
        self.pick.observe(lambda _: self._guard(self._draw_run), "value")
        self.start_button.on_click(lambda _: self._guard(self._start_lab))
        if self.recording.value:
            self._guard(self._open_shipped)

    def _guard(self, fn) -> None:
        """Run a callback; an error becomes the message line, never a lost traceback."""
        self.message.value = ""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - shown to the user, who can do something about it
            self.message.value = (
                f"<span style='color:#D55E00'>{html.escape(type(e).__name__)}: {html.escape(str(e))}</span>"
            )

    def _open_shipped(self) -> None:
        if self.recording.value:
            self.show(replay.load(self.recording.value))

    def _open_upload(self) -> None:
        files = self.upload.value
        if not files:
            return
        f = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        self.show(replay.loads(bytes(f["content"]), f["name"]))

    def show(self, rec: replay.Recording) -> None:
        """Show recording ``rec``: its label, its runs, the figures across its runs."""
        self.rec = rec
        self.label.value = (
            f"<div style='background:#FFF4D6;padding:4px 8px'><b>{html.escape(rec.label)}</b><br>"
            f"{html.escape(rec.meta['what'])}</div>"
        )
        cmp_ = rec.compare()
        fig = (
            viz.latency_figure(cmp_)
            if "none" in cmp_ and len(cmp_) > 1
            else viz.runs_figure(
                rec.latency_runs(),
                title=f"latency of every run (recorded on {rec.meta['backend']}, {rec.meta['recorded']})",
            )
        )
        self.latency_image.value = _png(fig)
        has_proxies = any(r["proxies"] for r in cmp_.values())
        self.cost_image.value = _png(viz.cost_figure(cmp_)) if has_proxies else b""
        self.cost_image.layout.display = None if has_proxies else "none"
        labels = [r.label for r in rec.runs]
        if list(self.run.options) == labels:
            self._draw_run()
        else:
            self.run.options = labels  # draws the first run (the observer)
            self.run.value = labels[0]

    def _draw_run(self) -> None:
        if self.rec is None or self.run.value is None:
            return
        run = self.rec.run(self.run.value)
        s = run.result.summary()
        r, lat = s["requests"], s["latency_ms"]
        self.summary.value = (
            f"{html.escape(run.topology.name)} · {html.escape(run.data_plane)} · "
            f"{html.escape(run.result.source)} → {html.escape(run.result.url)}: "
            f"{r['ok']}/{r['sent']} ok"
            + (f", p50 {lat['p50']:.1f} ms, p90 {lat['p90']:.1f} ms" if lat["count"] else "")
            + (f", p99 {lat['p99']:.1f} ms" if lat["count"] >= min_samples(99) else "")
        )
        path = run.path(self.pick.value)
        if path is None:
            self.message.value = f"no request of this run is '{html.escape(self.pick.value)}'"
            return
        when = f"recorded on {self.rec.meta['backend']}, {self.rec.meta['recorded']}"
        self.topology_image.value = _png(
            viz.topology_figure(
                run.topology, run.mesh, path, title=f"{run.label}: one request's path ({when})"
            )
        )
        self.path_image.value = _png(
            viz.path_figure(path, title=f"{run.label}: one request, hop by hop ({when})")
        )

    def _start_lab(self) -> None:
        from .lab import Lab
        from .widgets import ControlPanel

        if self.lab is None:
            self.start_button.disabled = True
            self.start_button.description = "starting..."
            self.lab = Lab("bookinfo", mode="sidecar", verbose=False).start()
            self.live.children = (
                w.HTML(
                    "A live lab: Bookinfo in sidecar mode on this machine. It stops with "
                    "this page's kernel, shut down once the page has been closed for a minute (10 "
                    "minutes where JupyterLab serves this page, as on Binder)."
                ),
                ControlPanel(self.lab),
            )
