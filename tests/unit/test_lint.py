"""ruff (pyproject.toml's [tool.ruff]) is clean on every Python file of the project: the test
command runs its lint and its formatter's check, so a submission with an unused import, an undefined
name, a syntax error or code that `ruff format` would change fails."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["meshlab", "tests", "tools", "solutions"]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: it is a test dependency (pip install -e '.[test]')")
    return subprocess.run(
        [ruff, *args, "--no-cache", *SOURCES], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_ruff_check_is_clean():
    r = _ruff("check")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_ruff_format_leaves_every_file_as_it_is():
    r = _ruff("format", "--check")
    assert r.returncode == 0, (
        "run `ruff format meshlab tests tools solutions`:\n" + r.stdout[-4000:] + r.stderr[-2000:]
    )
