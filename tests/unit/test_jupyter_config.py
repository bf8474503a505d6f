"""The lab's Jupyter settings (binder/jupyter-config/): a kernel with no page open is culled, so a
lab in it does not outlive its page (Voilà's own shutdown on closing the page is refused:
voila-dashboards/voila#1458). Installed into ``<prefix>/etc/jupyter/``, merged with what is there."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from traitlets.config.loader import JSONFileConfigLoader

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "install_jupyter_config", ROOT / "binder" / "install_jupyter_config.py"
)
installer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(installer)


def _culling(path: Path) -> dict:
    return dict(JSONFileConfigLoader(path.name, str(path.parent)).load_config()["MappingKernelManager"])


def test_installed_settings_cull_only_kernels_with_no_page_open(tmp_path):
    written = installer.install(tmp_path)
    etc = tmp_path / "etc" / "jupyter"
    assert sorted(p.name for p in written) == ["jupyter_server_config.json", "voila.json"]
    lab, voila = _culling(etc / "jupyter_server_config.json"), _culling(etc / "voila.json")
    assert lab == {
        "cull_idle_timeout": 600,
        "cull_interval": 60,
        "cull_connected": False,
    }  # JupyterLab, Binder
    assert voila == {"cull_idle_timeout": 60, "cull_interval": 15, "cull_connected": False}  # `voila ...`


def test_installing_keeps_the_settings_already_there(tmp_path):
    etc = tmp_path / "etc" / "jupyter"
    etc.mkdir(parents=True)
    (etc / "jupyter_server_config.json").write_text(
        json.dumps(
            {"ServerApp": {"ip": "0.0.0.0"}, "MappingKernelManager": {"cull_busy": False, "cull_interval": 5}}
        )
    )
    installer.install(tmp_path)
    installer.install(tmp_path)  # twice: the same
    cfg = json.loads((etc / "jupyter_server_config.json").read_text())
    assert cfg["ServerApp"] == {"ip": "0.0.0.0"}
    assert cfg["MappingKernelManager"] == {
        "cull_busy": False,
        "cull_idle_timeout": 600,
        "cull_interval": 60,
        "cull_connected": False,
    }
