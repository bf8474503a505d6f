"""Binder builds the lab from binder/ alone (repo2docker: runtime.txt, requirements.txt, then
postBuild). This test does the same in a fresh virtual environment — nothing from the project's
own .venv — and runs the first comparison notebook in it, as a learner's first click would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "notebooks/01-sidecar-vs-ambient.ipynb"
COPY = ("meshlab", "notebooks", "topologies", "recordings", "binder", "pyproject.toml", "README.md")


def test_binder_pins_the_python_it_says():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-3.") and int(runtime.split(".")[1]) >= 10


def test_a_fresh_environment_from_binder_files_runs_the_comparison_notebook(tmp_path):
    repo, venv = tmp_path / "repo", tmp_path / "venv"
    repo.mkdir()
    for name in COPY:
        src = ROOT / name
        (
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            if src.is_dir()
            else shutil.copy(src, repo / name)
        )
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    for var in ("PYTHONPATH", "PYTHONHOME"):
        env.pop(var, None)

    def run(*cmd, timeout=900):
        r = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
        return r

    run(
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "-r",
        "binder/requirements.txt",
    )  # (bytecode: compiled on import)
    run("bash", "binder/postBuild")
    for name in ("jupyter_server_config.json", "voila.json"):  # a kernel with no page open is culled
        settings = json.loads((venv / "etc" / "jupyter" / name).read_text())
        assert settings["MappingKernelManager"]["cull_idle_timeout"] > 0, name
    where = run(
        str(venv / "bin" / "python"), "-c", "import meshlab, sys; print(meshlab.__file__, sys.prefix)"
    )
    assert str(repo) in where.stdout and str(venv) in where.stdout  # this environment, this copy
    out = tmp_path / "executed.ipynb"
    run(
        str(venv / "bin" / "jupyter"),
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--ExecutePreprocessor.timeout=300",
        "--output",
        str(out),
        NOTEBOOK,
    )
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3  # the plots are drawn
