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
    assert "gatewayClassName: istio-waypoint" in panel.yaml.value and "istio.io/use-waypoint: waypoint" in panel.yaml.value
    panel._on_send()
    assert any(h.role == "waypoint" for p in panel.last_result.paths.values() for h in p.hops)


def test_an_error_lands_in_the_panel_and_the_lab_keeps_working(panel):
    panel.mode.value = "sidecar"
    panel.waypoints.value = ("server",)             # waypoints need ambient: refused, shown, survived
    assert "not in an ambient namespace" in panel.last_error and "ambient" in panel.error.value
    panel._on_send()
    assert panel.last_error is None and panel.last_result.summary()["requests"]["failed"] == 0
