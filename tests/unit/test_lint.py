"""ruff's lint (pyproject.toml's [tool.ruff]) is clean on every Python file of the project: the test
command runs it, so a submission with an unused import, an undefined name or a syntax error fails."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_check_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: it is a test dependency (pip install -e '.[test]')")
    r = subprocess.run([ruff, "check", "--no-cache", "meshlab", "tests", "tools", "solutions"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
