"""The mesh's vocabulary as values: the modes a namespace can be in, the proxy roles, and a data
plane as ``meshlab compare`` names it (``"ambient+waypoint"``). Every list of modes, roles and
data planes in meshlab is derived from here.

- :class:`Mode` — what a namespace's labels ask for: ``none``, ``sidecar`` (``istio-injection:
  enabled``) or ``ambient`` (``istio.io/dataplane-mode: ambient``). A pod's *mesh* is one of the
  meshed modes, ``"waypoint"`` for a waypoint's own pod, or None.
- :class:`Role` — a proxy's role: a ``sidecar`` in a pod, a ``ztunnel`` per node, a ``waypoint``
  (a pod of its own); apps are ``app``.
- :class:`DataPlane` — a mode with or without waypoints, parsed from and printed as
  ``"ambient+waypoint"``; :data:`DATA_PLANES` are the four ``compare`` runs side by side.
- :data:`BACKENDS` — what a lab's cluster runs on (``Lab(backend=...)``, ``--backend``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Mode(str, Enum):
    NONE = "none"
    SIDECAR = "sidecar"
    AMBIENT = "ambient"

    def __str__(self) -> str:
        return self.value


class Role(str, Enum):
    SIDECAR = "sidecar"
    ZTUNNEL = "ztunnel"
    WAYPOINT = "waypoint"

    def __str__(self) -> str:
        return self.value


#: the modes, as the strings labels, the CLI and ``Lab(mode=...)`` use
MODES: tuple[str, ...] = tuple(m.value for m in Mode)
#: the modes in which a pod has a proxy of its own or its node's (a pod's mesh, when meshed)
MESHED: tuple[str, ...] = (Mode.SIDECAR.value, Mode.AMBIENT.value)
#: the proxy roles; and the ones that speak HBONE (ambient's)
PROXY_ROLES: tuple[str, ...] = tuple(r.value for r in Role)
HBONE_ROLES: tuple[str, ...] = (Role.ZTUNNEL.value, Role.WAYPOINT.value)
WAYPOINT_SUFFIX = "+waypoint"


@dataclass(frozen=True)
class DataPlane:
    """A mode, with waypoints or not (only ambient has them)."""

    mode: Mode
    waypoints: bool = False

    def __post_init__(self):
        object.__setattr__(self, "mode", Mode(self.mode))
        if self.waypoints and self.mode is not Mode.AMBIENT:
            raise ValueError(f"only ambient mode has waypoints; got {self.mode.value}{WAYPOINT_SUFFIX}")

    @classmethod
    def parse(cls, text: str) -> "DataPlane":
        """``"sidecar"``, ``"ambient+waypoint"``, ...; a clear error naming the allowed values."""
        mode, plus, rest = str(text).partition("+")
        if mode not in MODES or (plus and rest != "waypoint") or (plus and mode != Mode.AMBIENT.value):
            raise ValueError(f"unknown data plane {text!r}; allowed: {', '.join(map(str, DATA_PLANES))}")
        return cls(Mode(mode), bool(plus))

    def __str__(self) -> str:
        return self.mode.value + (WAYPOINT_SUFFIX if self.waypoints else "")


#: the data planes ``meshlab compare`` runs side by side, in order
DATA_PLANES: tuple[DataPlane, ...] = (
    DataPlane(Mode.NONE),
    DataPlane(Mode.SIDECAR),
    DataPlane(Mode.AMBIENT),
    DataPlane(Mode.AMBIENT, waypoints=True),
)


#: What a lab's cluster runs on: ``loopback`` (the default: no root), ``mininet`` (root: network
#: namespaces), or ``auto`` (mininet where it can run). :mod:`meshlab.backends.choice` builds them.
BACKENDS = ("loopback", "mininet", "auto")
