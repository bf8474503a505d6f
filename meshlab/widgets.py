"""A control panel bound to a running lab: mesh mode, waypoints, and "send traffic".

The widgets hold no mesh logic: a change calls the lab (``set_mode``, ``set_waypoints``,
``load``) and redraws with :mod:`meshlab.viz`. Every change shows the Kubernetes/Istio YAML that
would do the same in a real cluster, and every error lands in the panel's error area, never in a
lost callback traceback. Policy controls (retries, timeouts, faults, mTLS mode) arrive with the
policy API.

    from meshlab.widgets import ControlPanel
    ControlPanel(lab)          # in a notebook cell
"""

from __future__ import annotations

import traceback

import ipywidgets as w

from .errors import MeshlabError
from .viz import path_figure

MAX_REQUESTS = 2000
MAX_CONCURRENCY = 64


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


class ControlPanel(w.VBox):
    def __init__(self, lab):
        self.lab = lab
        services = sorted({s.name for s in lab.topology.services})
        self.mode = w.Dropdown(options=["none", "sidecar", "ambient"],
                               value=lab.mode if lab.mode in ("none", "sidecar", "ambient") else "none",
                               description="mesh mode")
        self.waypoints = w.SelectMultiple(options=services, value=tuple(
            s for (_, s) in lab.waypoint_of), description="waypoint for", rows=min(5, len(services)))
        self.requests = w.BoundedIntText(value=100, min=1, max=MAX_REQUESTS, description="requests")
        self.concurrency = w.BoundedIntText(value=4, min=1, max=MAX_CONCURRENCY, description="connections")
        self.send = w.Button(description="send traffic", button_style="primary", icon="paper-plane")
        self.yaml = w.Textarea(layout=w.Layout(width="100%", height="9em"), disabled=True,
                               description="as YAML")
        self.status = w.HTML()
        self.error = w.HTML()
        self.plot = w.Output()
        self.last_result = None
        self.last_figure = None
        self.last_error: str | None = None
        self.mode.observe(self._on_mode, names="value")
        self.waypoints.observe(self._on_waypoints, names="value")
        self.send.on_click(self._on_send)
        self._sync()
        super().__init__([w.HBox([self.mode, self.waypoints]), w.HBox([self.requests, self.concurrency, self.send]),
                          self.yaml, self.error, self.status, self.plot])

    # -- callbacks: each one calls the lab, shows the YAML, redraws ------------------------------
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

    def _on_mode(self, change) -> None:
        def act():
            report = self.lab.set_mode(change["new"])
            self.yaml.value = mode_yaml([n.name for n in self.lab.topology.namespaces], change["new"])
            restarted = report["restarted"]
            self.status.value = (f"mode {self.lab.mode}: " + (f"restarted {len(restarted)} pods (sidecar injection)"
                                 if restarted else "no pod restarted"))
            self._sync()
        self._guard(act)

    def _on_waypoints(self, change) -> None:
        def act():
            chosen = list(change["new"])
            self.lab.set_waypoints(chosen or None)
            namespaces = {s.namespace for s in self.lab.topology.services if s.name in chosen} or {"default"}
            self.yaml.value = "\n---\n".join(waypoint_yaml(ns, chosen) for ns in sorted(namespaces))
            self.status.value = f"waypoint for: {', '.join(chosen) or 'no service'} (no pod restarted)"
        self._guard(act)

    def _on_send(self, _button=None) -> None:
        def act():
            self.status.value = f"sending {self.requests.value} requests over {self.concurrency.value} connections…"
            res = self.lab.load(requests=self.requests.value, concurrency=self.concurrency.value, progress=False)
            s = res.summary()
            lat = s["latency_ms"]
            self.status.value = (f"<b>{s['requests']['ok']}/{s['requests']['sent']} ok</b> · p50 {lat['p50']:.2f} ms "
                                 f"· p90 {lat['p90']:.2f} ms · p99 {lat['p99']:.2f} ms · mode {self.lab.mode}")
            path = next(iter(res.paths.values()), None)
            self.last_result = res
            if path is not None:
                self.last_figure = path_figure(path, title=f"one of the {s['requests']['sent']} requests, mode {self.lab.mode}")
                self.plot.clear_output(wait=True)
                from IPython import get_ipython
                if get_ipython() is not None:            # in a notebook: show it; elsewhere keep it
                    from IPython.display import display
                    with self.plot:
                        display(self.last_figure)
        self._guard(act)

    def _sync(self) -> None:
        """Show what the lab really is now (after an error too)."""
        self.waypoints.disabled = self.lab.mode != "ambient"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
