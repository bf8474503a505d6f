"""Plots of what the lab measured: one request's waterfall, latency and cost across modes.

Every function takes results (no lab needed, so recorded runs replay) and returns a matplotlib
``Figure``; nothing here needs Jupyter or pyplot. Colours are the Okabe–Ito palette, which
colour-blind readers can tell apart, and every encoding is doubled by a pattern or a label.

One module per figure family; every figure is importable from here (``from meshlab.viz import
path_figure``, as the notebooks do):

- :mod:`.style` — the palette per role and per data plane, the L4 hatch, plain numbers on a log axis
  (:func:`plain_log_ticks`), a Figure Jupyter can show.
- :mod:`.waterfall` — one request, hop by hop (:func:`path_figure`).
- :mod:`.topomap` — the cluster's boxes and one request's path across them (:func:`topology_figure`).
- :mod:`.latency` — latency by data plane (:func:`latency_figure`) and one CDF per run (:func:`runs_figure`).
- :mod:`.cost` — what the proxies cost (:func:`cost_figure`), extrapolated to N pods
  (:func:`cost_scaling_figure`).
"""

from __future__ import annotations

from .cost import cost_figure, cost_scaling_figure
from .latency import RUN_STYLES, latency_figure, runs_figure
from .style import (
    COLORS,
    L4_HATCH,
    MODE_COLORS,
    MODE_MARKERS,
    figure_png,
    plain_log_ticks,
    show_figures_in_jupyter,
)
from .topomap import topology_figure
from .waterfall import path_figure, shown_interval

__all__ = [
    "COLORS",
    "L4_HATCH",
    "MODE_COLORS",
    "MODE_MARKERS",
    "RUN_STYLES",
    "cost_figure",
    "figure_png",
    "cost_scaling_figure",
    "latency_figure",
    "path_figure",
    "plain_log_ticks",
    "runs_figure",
    "show_figures_in_jupyter",
    "shown_interval",
    "topology_figure",
]
