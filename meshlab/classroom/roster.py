"""The class list and each learner's variant seed.

A roster is a CSV file with a header row and a ``learner`` column (the learner's id: their JupyterHub
user name, say; letters, digits, ``.``, ``_``, ``-`` and ``@``, since it names a folder); other
columns (``name``, ``email``) are kept and ignored::

    learner,name
    ada,Ada Lovelace
    grace,Grace Hopper
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import MeshlabError

LEARNER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
DEFAULT_COURSE = "meshlab"


class ClassroomError(MeshlabError, ValueError):
    """A roster, a notebook or a submission the classroom commands cannot use (the message names the
    file, and the line and field where there is one, and what is allowed)."""


def variant_seed(course: str, notebook: str, learner: str) -> str:
    """The variant seed of ``learner``'s ``notebook`` in ``course``: the same three, the same seed
    (the build and the grader each derive it; neither trusts a seed written in a notebook)."""
    return hashlib.sha256(f"{course}\0{notebook}\0{learner}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Roster:
    path: Path
    learners: tuple[str, ...]

    def __contains__(self, learner: str) -> bool:
        return learner in self.learners


def load_roster(path: str | Path) -> Roster:
    """The learners of the CSV at ``path``, in file order; a bad file is a :class:`ClassroomError`
    naming file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ClassroomError(f"{path}: cannot read the roster: {e.strerror or e}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(c.strip() for c in rows[0]):
        raise ClassroomError(
            f"{path}:1: the roster is empty; it needs a header row with a 'learner' column, "
            "then one learner per line"
        )
    header = [c.strip().lower() for c in rows[0]]
    if "learner" not in header:
        raise ClassroomError(
            f"{path}:1: no 'learner' column in the header ({', '.join(header) or 'nothing'}); "
            "the roster needs one, e.g. 'learner,name'"
        )
    col, seen, learners = header.index("learner"), {}, []
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        lid = row[col].strip() if col < len(row) else ""
        if not LEARNER_ID.match(lid):
            raise ClassroomError(
                f"{path}:{n}: learner: {lid!r} is not a learner id; allowed: 1-64 letters, digits, "
                "'.', '_', '-' or '@', starting with a letter or digit (it names a folder)"
            )
        if lid in seen:
            raise ClassroomError(f"{path}:{n}: learner: {lid!r} is already on line {seen[lid]}")
        seen[lid] = n
        learners.append(lid)
    if not learners:
        raise ClassroomError(f"{path}: the roster has a header but no learners")
    return Roster(path, tuple(learners))
