"""A control panel bound to a running lab: mesh mode, waypoints, traffic policy, "send traffic".

The widgets hold no mesh logic: a mode or waypoint change calls the lab (``set_mode``,
``set_waypoints``); a policy change — retries, timeout, faults, traffic weights for one service,
the mesh-wide mTLS mode — becomes Istio objects (:mod:`meshlab.policy.builder`) that the panel
applies with ``lab.apply`` like any learner's YAML, and shows. After each change the panel sends
traffic (unless "send after each change" is off) and redraws one request's path and the latency
of every run so far (:mod:`meshlab.viz`). Every error lands in the panel's error area, never in
a lost callback traceback, and the lab keeps what it had.

    from meshlab.widgets import ControlPanel
    ControlPanel(lab)          # in a notebook cell

- :mod:`.panel` — :class:`ControlPanel`: its controls, laid out, and what each one does to the lab;
  :mod:`.trafficpolicy` — its traffic-policy section (a service's VirtualService, mesh-wide mTLS).
- :mod:`.guard` — one action at a time: busy while it runs, the lab's output and any error shown.
- :mod:`.texts` — every text it writes: the YAML of a change, a policy in words, the help.
"""

from __future__ import annotations

from .panel import ControlPanel

__all__ = ["ControlPanel"]
