"""The mode as a value (issue 20): a data plane parses from and prints as ``"ambient+waypoint"``,
anything else is refused naming the allowed values, and no module but ``meshlab/modes.py`` spells
out a list of modes or proxy roles (every other list is derived from it)."""

import ast
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from meshlab.modes import DATA_PLANES, MODES, PROXY_ROLES, DataPlane, Mode

ROOT = Path(__file__).resolve().parents[2] / "meshlab"


@pytest.mark.parametrize("text", ["none", "sidecar", "ambient", "ambient+waypoint"])
def test_a_data_plane_reads_back_as_it_prints(text):
    assert str(DataPlane.parse(text)) == text


def test_the_compare_runs_are_the_four_data_planes_in_order():
    assert [str(d) for d in DATA_PLANES] == ["none", "sidecar", "ambient", "ambient+waypoint"]
    assert MODES == tuple(m.value for m in Mode) == ("none", "sidecar", "ambient")


@given(st.text(max_size=30))
def test_anything_else_is_refused_naming_the_allowed_values(text):
    if text in {str(d) for d in DATA_PLANES}:
        return
    with pytest.raises(ValueError, match="allowed: none, sidecar, ambient, ambient\\+waypoint"):
        DataPlane.parse(text)


def test_only_ambient_has_waypoints():
    with pytest.raises(ValueError, match="only ambient"):
        DataPlane(Mode.SIDECAR, waypoints=True)


def _literal_lists(tree) -> list[tuple[int, tuple]]:
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.Tuple, ast.List, ast.Set))
            and node.elts
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
        ):
            out.append((node.lineno, tuple(e.value for e in node.elts)))
    return out


def test_no_module_spells_out_the_modes_or_the_proxy_roles_again():
    spelled = []
    for f in sorted(ROOT.rglob("*.py")):
        if f.name == "modes.py" and f.parent == ROOT:
            continue
        for line, values in _literal_lists(ast.parse(f.read_text())):
            if set(values) >= set(MODES) or set(values) >= set(PROXY_ROLES):
                spelled.append(f"{f.relative_to(ROOT.parent)}:{line}: {values}")
    assert not spelled, "derive these from meshlab.modes:\n" + "\n".join(spelled)
