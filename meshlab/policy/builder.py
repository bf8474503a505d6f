"""Istio YAML from a handful of settings — what the control panel's policy widgets write, pure.

Each writer lives with its kind (:mod:`.virtualservice`, :mod:`.destinationrule`, :mod:`.peerauth`,
:mod:`.gateway`, :mod:`.enrollment`, :mod:`.httproute`); this module gathers them for the panel,
which imports nothing else of the policy package.

The panel holds no mesh logic: it turns its widgets into a :class:`RouteSettings` (one service's
VirtualService: retries, timeout, faults, weights) and an mTLS mode, and these functions write
the Istio objects that say the same, which the lab then applies like any learner's YAML::

    >>> vs = virtual_service(RouteSettings("reviews", attempts=3, retry_on=("5xx",), timeout_s=0.5))
    >>> vs["spec"]["http"][0]["retries"], vs["spec"]["http"][0]["timeout"]
    ({'attempts': 3, 'retryOn': '5xx'}, '500ms')

Settings left at their defaults write nothing, so Istio's defaults hold (two retries on
connect-failure, refused-stream, unavailable and cancelled; no timeout).

Enrollment is YAML too: :func:`namespace_labels` (a mesh mode as Namespace labels, from
:func:`meshlab.mesh.mode_labels`, the one mode -> labels table), :func:`waypoint_gateway` (the one
waypoint Gateway writer; ``meshlab export`` and the tasks use it too) and :func:`use_waypoint`.
"""

from __future__ import annotations

from typing import Sequence

from .. import mesh
from .authz import ROOT_NAMESPACE
from .destinationrule import destination_rule, versions
from .destinationrule import subsets_defined as _subsets_defined
from .enrollment import namespace_labels, use_waypoint
from .gateway import waypoint_gateway
from .httproute import http_route
from .objects import WRITTEN_BY, PolicyObject
from .peerauth import PANEL_MODES, peer_authentication
from .retries import RETRY_ON, RETRY_ON_MEANING
from .virtualservice import RouteSettings, virtual_service

__all__ = [
    "MODES",
    "MTLS_MODES",
    "RETRY_ON",
    "RETRY_ON_MEANING",
    "ROOT_NAMESPACE",
    "RouteSettings",
    "WRITTEN_BY",
    "destination_rule",
    "http_route",
    "namespace_labels",
    "peer_authentication",
    "subsets_defined",
    "use_waypoint",
    "versions",
    "virtual_service",
    "waypoint_gateway",
    "written_by_panel",
]

#: The mesh modes :func:`namespace_labels` writes (:data:`meshlab.mesh.MODES`).
MODES = mesh.MODES
#: The mesh-wide mTLS modes the panel offers, in its order.
MTLS_MODES = PANEL_MODES


def written_by_panel(doc) -> bool:
    return ((doc.get("metadata") or {}).get("annotations") or {}).get(
        "meshlab.io/written-by"
    ) == "control-panel"


def subsets_defined(policies: Sequence[PolicyObject], s: RouteSettings) -> bool:
    """Does a DestinationRule in ``policies`` define every subset ``s`` gives a weight to?"""
    return _subsets_defined(
        policies, s.host, s.namespace, [name for name, weight in s.weights.items() if weight]
    )
