"""The control panel's callbacks, driven without a browser: set a value, check the lab changed,
the YAML shown and the plot redrawn; errors land in the panel."""

import pytest

from meshlab import Lab
from meshlab.widgets import ControlPanel

pytestmark = pytest.mark.integration


@pytest.fixture()
def panel():
    # loopback only: the panel holds no mesh logic, it calls set_mode / set_waypoints / load,
    # which test_mode_changes.py and test_waypoint.py run on both backends
    with Lab("minimal", verbose=False) as lab:
        yield ControlPanel(lab)


def test_choosing_ambient_enrolls_the_namespace_and_shows_its_label(panel):
    panel.mode.value = "ambient"
    assert panel.lab.mode == "ambient" and panel.last_error is None
    assert "istio.io/dataplane-mode: ambient" in panel.yaml.value and "no pod restarted" in panel.status.value
    assert not panel.waypoints.disabled


def test_sending_traffic_redraws_the_path(panel):
    panel.mode.value = "sidecar"
    assert "restarted 2 pods" in panel.status.value
    panel.requests.value = 20
    panel._on_send()
    assert panel.last_error is None and len(panel.last_result) == 20
    texts = [t.get_text() for ax in panel.last_figure.axes for t in ax.texts]
    assert any("server-0/istio-proxy" in t for t in texts)
    assert "20/20 ok" in panel.status.value


def test_a_waypoint_from_the_panel_shows_the_gateway_yaml(panel):
    panel.mode.value = "ambient"
    panel.waypoints.value = ("server",)
    assert panel.lab.waypoint_of == {("default", "server"): "waypoint-0"}
    assert (
        "gatewayClassName: istio-waypoint" in panel.yaml.value
        and "istio.io/use-waypoint: waypoint" in panel.yaml.value
    )
    panel._on_send()
    assert any(h.role == "waypoint" for p in panel.last_result.paths.values() for h in p.hops)


def test_an_error_lands_in_the_panel_and_the_lab_keeps_working(panel):
    panel.mode.value = "sidecar"
    panel.waypoints.value = ("server",)  # waypoints need ambient: refused, shown, survived
    assert "not in an ambient namespace" in panel.last_error and "ambient" in panel.error.value
    panel._on_send()
    assert panel.last_error is None and panel.last_result.summary()["requests"]["failed"] == 0


# -- traffic policy: each change is Istio YAML the panel applies, shows, and measures ---------------


def test_an_abort_fault_is_a_virtual_service_and_its_503s_are_measured(panel):
    panel.requests.value = 40
    panel.mode.value = "sidecar"  # the client sidecar injects the fault
    panel.abort_percent.value = 50
    assert panel.last_error is None
    [vs] = [o for o in panel.lab.policies() if o.kind == "VirtualService"]
    assert vs.spec["http"][0]["fault"]["abort"] == {"httpStatus": 503, "percentage": {"value": 50.0}}
    assert (
        "kind: VirtualService" in panel.yaml.value
        and "virtualservice/server -n default created" in panel.yaml.value
    )
    codes = panel.last_result.by_status()
    assert set(codes) <= {"200", "503"} and codes.get("503", 0) > 0 and codes.get("200", 0) > 0
    assert panel.runs[-1]["label"] == "sidecar, after server: abort 503 on 50%" and panel.runs[-1][
        "ok"
    ] == codes.get("200", 0)

    panel.abort_percent.value = 0  # back to Istio's defaults: the object goes
    assert [o for o in panel.lab.policies() if o.kind == "VirtualService"] == []
    assert "no VirtualService for server" in panel.yaml.value
    assert panel.last_result.by_status() == {"200": 40}
    assert len(panel.runs) == 3 and panel.runs_figure is not None
    legend = [t.get_text() for t in panel.runs_figure.axes[0].get_legend().get_texts()]
    assert len(legend) == 3 and legend[-1].startswith("sidecar, after server: Istio's defaults")


def test_a_fault_switches_off_the_routes_timeout_as_in_istio(panel):
    panel.requests.value = 10
    panel.mode.value = "sidecar"
    panel.auto_send.value = False
    panel.timeout.value = 0.1
    panel.delay_s.value = 0.3
    panel.delay_percent.value = 100  # configured delay 0.3 s, timeout 0.1 s
    route = panel.lab.policies()[0].spec["http"][0]
    assert route["timeout"] == "100ms" and route["fault"]["delay"]["fixedDelay"] == "300ms"
    panel._on_send()
    assert panel.last_result.by_status() == {"200": 10}  # no 504: the fault turned the timeout off
    assert min(panel.last_result.latencies_ms()) >= 300


def test_retries_from_the_panel(panel):
    panel.auto_send.value = False
    panel.mode.value = "sidecar"
    panel.retry_on.value = ("5xx", "reset")
    panel.attempts.value = 3
    panel.per_try_timeout.value = 0.5
    retries = panel.lab.policies()[0].spec["http"][0]["retries"]
    assert retries == {"attempts": 3, "perTryTimeout": "500ms", "retryOn": "5xx,reset"}
    assert panel.status.value == "server: 3 retries on 5xx,reset"


def test_mesh_wide_mtls_from_the_panel(panel):
    panel.auto_send.value = False
    panel.mode.value = "sidecar"
    panel.mtls.value = "STRICT"
    [pa] = panel.lab.policies()
    assert (pa.kind, pa.namespace, pa.spec) == (
        "PeerAuthentication",
        "istio-system",
        {"mtls": {"mode": "STRICT"}},
    )
    panel._on_send()
    assert panel.last_result.by_status() == {"200": 100}  # both sides have sidecars: mTLS, allowed
    panel.mtls.value = "UNSET"
    assert panel.lab.policies() == [] and "PERMISSIVE, Istio's default" in panel.yaml.value


def test_traffic_weights_write_the_subsets_and_split_the_traffic():
    with Lab("bookinfo", mode="sidecar", verbose=False) as lab:
        panel = ControlPanel(lab)
        panel.requests.value = 20
        panel.service.value = ("default", "reviews")
        assert [c.description for c in panel.weights.children] == ["v1", "v2", "v3"]
        panel.weights.children[2].value = 100
        assert panel.last_error is None
        kinds = {o.kind: o for o in lab.policies()}
        assert [s["name"] for s in kinds["DestinationRule"].spec["subsets"]] == ["v1", "v2", "v3"]
        assert kinds["VirtualService"].spec["http"][0]["route"] == [
            {"destination": {"host": "reviews", "subset": "v3"}, "weight": 100}
        ]
        reached = {
            h.name for p in panel.last_result.paths.values() for h in p.hops if h.name.startswith("reviews-")
        }
        assert reached and all(n.startswith("reviews-v3") for n in reached)


def test_a_policy_on_an_ambient_service_without_a_waypoint_shows_istios_warning(panel):
    panel.auto_send.value = False
    panel.mode.value = "ambient"
    panel.timeout.value = 1.0
    assert panel.last_error is None and "# warning:" in panel.yaml.value and "no waypoint" in panel.yaml.value


def test_the_panel_leaves_a_learners_own_yaml_alone(panel):
    """A VirtualService the learner applied is theirs: the panel refuses to replace or delete it,
    says so in the panel, and the lab keeps it."""
    panel.auto_send.value = False
    panel.mode.value = "sidecar"
    mine = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "server", "namespace": "default"},
        "spec": {
            "hosts": ["server"],
            "http": [{"route": [{"destination": {"host": "server"}}], "timeout": "3s"}],
        },
    }
    panel.lab.apply(mine)
    panel.timeout.value = 1.0
    assert "is YAML you applied, so the panel leaves it alone" in panel.last_error
    [vs] = panel.lab.policies()
    assert vs.spec["http"][0]["timeout"] == "3s"
    panel.lab.delete(kind="VirtualService", name="server")
    panel.timeout.value = 2.0  # now the panel may write its own
    assert panel.last_error is None and panel.lab.policies()[0].spec["http"][0]["timeout"] == "2s"


# -- what the learner sees while the panel works (issue 15) ---------------------------------------


def test_the_panel_shows_it_is_busy_and_refuses_a_second_action_meanwhile(panel, monkeypatch):
    seen = {}
    load = panel.lab.load

    def slow_load(*a, **kw):
        seen["disabled"] = {c.description: c.disabled for c in panel._controls()}
        seen["status"] = panel.status.value
        panel._on_send()  # a click that re-enters while this one runs
        seen["refused"] = panel.refused
        return load(*a, **kw)

    monkeypatch.setattr(panel.lab, "load", slow_load)
    panel.requests.value = 10
    panel._on_send()
    assert all(seen["disabled"].values()), seen["disabled"]
    assert "sending 10 requests" in seen["status"] and "⏳" in seen["status"]
    assert "still busy (sending 10 requests" in seen["refused"]
    assert panel.last_error is None and "10/10 ok" in panel.status.value  # the first one finished
    assert not any(c.disabled for c in panel._controls() if c is not panel.waypoints)


def test_after_a_failed_change_the_controls_show_the_labs_real_state(panel, monkeypatch):
    from meshlab.errors import LabError

    def broken(mode, namespace=None):
        raise LabError("the lab could not do that")

    monkeypatch.setattr(panel.lab, "set_mode", broken)
    panel.mode.value = "ambient"
    assert panel.last_error == "the lab could not do that"
    assert panel.mode.value == panel.lab.mode == "none"  # the dropdown went back: no lie
    assert panel.waypoints.disabled


def test_a_long_error_shows_its_first_line_and_folds_the_rest(panel, monkeypatch):
    from meshlab.errors import WorkerError

    def dies(*a, **kw):
        raise WorkerError(
            "pod client-0: its process exited (code 1) during load\nTraceback ...\n  line 2\n"
            "ConnectionRefusedError: [Errno 111]"
        )

    monkeypatch.setattr(panel.lab, "load", dies)
    panel._on_send()
    assert "<b>pod client-0: its process exited (code 1) during load</b>" in panel.error.value
    assert "<details>" in panel.error.value and "ConnectionRefusedError" in panel.error.value
    assert "not done" in panel.status.value and "⏳" not in panel.status.value


def test_what_the_lab_did_is_said_in_the_panel(panel):
    panel.auto_send.value = False
    panel.mode.value = "ambient"
    assert "enrolled in ambient with no restart" in panel.notes.value
    panel.waypoints.value = ("server",)
    panel.mode.value = "sidecar"
    assert "no waypoint any more for server" in panel.notes.value
    assert "these pods restarted" in panel.notes.value and "server-0" in panel.notes.value
    assert panel.waypoints.value == () and panel.waypoints.disabled  # the controls say it too


def test_the_panels_labels_say_what_the_defaults_are(panel):
    assert panel.attempts.label == "Istio default" and panel.route_settings().attempts is None
    assert panel.mtls.label.startswith("UNSET: no policy (Istio's default, PERMISSIVE)")
    panel.auto_send.value = False
    panel.attempts.value = 2
    assert panel.route_settings().attempts == 2


def test_each_run_on_the_plot_names_the_data_plane_it_measured(panel):
    """The runs plot's legend names each run's mode (and waypoint), and what changed before it:
    'no change' alone did not say which data plane a run measured."""
    panel.requests.value = 20
    panel.mode.value = "sidecar"
    panel._on_send()
    panel.mode.value = "ambient"
    panel._on_send()
    labels = [r["label"] for r in panel.runs]
    assert labels[-4:] == [
        "sidecar, after mode sidecar",
        "sidecar",
        "ambient, after mode ambient",
        "ambient",
    ], labels
