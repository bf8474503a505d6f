"""The panel runs one action at a time: every control disabled and what it is doing in the status line
until the action is done, what the lab prints meanwhile in the panel's notes, and any error in its
error area (never a lost callback traceback); after it, the controls show the lab's real state."""

from __future__ import annotations

import contextlib
import io
import traceback

import ipywidgets as w

from ..errors import MeshlabError
from .texts import html as _html


class GuardedPanel(w.VBox):
    """A VBox whose actions run through :meth:`_guard`. The subclass sets ``busy``, ``doing``,
    ``refused`` and ``last_error`` and the ``status``, ``error`` and ``notes`` HTML widgets, and
    provides ``_controls()`` (every control a learner can change) and ``_sync()`` (make them show the
    lab as it is)."""

    lab: object

    def _guard(self, action, doing: str = "working"):
        """Run one action: the panel shows it is busy (every control disabled, what it is doing in
        the status line) until the action is done, then shows the lab's real state again — after an
        error too. What the lab prints meanwhile (pods restarted, waypoints) goes to the panel's
        notes, not to JupyterLab's log console. The kernel runs one widget callback at a time, so
        a click made while busy waits its turn; an action that starts while another one runs (a
        callback that re-enters) is refused with a message."""
        if self.busy:
            self.refused = (
                f"not done: the panel is still busy ({self.doing}); wait until it is done, then try again"
            )
            self.error.value = f"<div style='color:#D55E00'>{_html(self.refused)}</div>"
            return None
        self.doing, self.refused = doing, None
        self.busy = True
        self.last_error = None
        self.error.value = self.notes.value = ""
        controls = self._controls()
        for c in controls:
            c.disabled = True
        self.status.value = f"<i>⏳ {_html(doing)}… (the panel waits until this is done)</i>"
        said = io.StringIO()
        try:
            with contextlib.redirect_stdout(said):
                return action()
        except MeshlabError as e:
            self.last_error = str(e)
        except Exception as e:  # noqa: BLE001 - the panel must survive any failure and say what it was
            self.last_error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
        finally:
            self.busy = False
            for c in controls:
                c.disabled = False
            self._sync()
            self._note(said.getvalue())
            if self.last_error is not None:
                self._show_error(self.last_error)
        return None

    def _show_error(self, message: str) -> None:
        """The first line of an error, and the rest (a pod's log tail, a traceback) folded away."""
        first, _, rest = message.strip().partition("\n")
        self.error.value = (
            f"<div style='color:#D55E00'><b>{_html(first)}</b>"
            + (
                f"<details><summary>details</summary><pre>{_html(rest)}</pre></details>"
                if rest.strip()
                else ""
            )
            + "</div>"
        )
        if self.status.value.startswith("<i>⏳"):
            self.status.value = f"<span style='color:#D55E00'>not done</span> · mode {self.lab.mode}"

    def _note(self, text: str) -> None:
        lines = list(dict.fromkeys(x.removeprefix("meshlab: ") for x in text.splitlines() if x.strip()))
        if lines:
            self.notes.value = (
                "<div style='color:#555'>" + "<br>".join(f"ℹ {_html(x)}" for x in lines) + "</div>"
            )
