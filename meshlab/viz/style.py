"""The figures' shared look: Okabe–Ito colours per proxy role and per data plane, the L4 hatch, plain
numbers on log axes, and a new ``Figure`` that IPython knows how to show (as a PNG, without pyplot)."""

from __future__ import annotations

from matplotlib.figure import Figure

from ..modes import DATA_PLANES

#: Okabe–Ito colours per role.
COLORS = {
    "client": "#999999",
    "app": "#0072B2",
    "sidecar": "#E69F00",
    "ztunnel": "#009E73",
    "waypoint": "#CC79A7",
    "unreached": "#D55E00",
}
#: one colour and marker per data plane (meshlab.modes.DATA_PLANES, in order)
MODE_COLORS = dict(zip(map(str, DATA_PLANES), ("#999999", "#E69F00", "#009E73", "#CC79A7")))
MODE_MARKERS = dict(zip(map(str, DATA_PLANES), ("o", "s", "^", "D")))
L4_HATCH = "///"


def plain_log_ticks(axis) -> None:
    """Label a log-scaled axis (``ax.xaxis``, ``ax.yaxis``) with plain numbers: "0.5", "4", "20",
    where matplotlib would write "4×10⁰" or only the powers of ten ("10⁰", "10¹"). Within two
    decades some ticks between the powers of ten get a label too (matplotlib picks which)."""
    from matplotlib.ticker import LogFormatter

    class PlainLog(LogFormatter):
        def __call__(self, x, pos=None):
            return f"{x:g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(PlainLog())
    axis.set_minor_formatter(PlainLog(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (for an HTML page, an Image widget or IPython)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # one render: the figures lay themselves out (constrained)
    return buf.getvalue()


def show_figures_in_jupyter() -> bool:
    """Make IPython draw a ``Figure`` as a PNG. meshlab draws without pyplot, and without pyplot
    nothing tells IPython how to show a figure: a notebook would print ``<Figure size 1000x328
    with 1 Axes>`` instead of the plot. Called by a notebook's :func:`meshlab.exercises.session` and
    whenever a plot here is made (not on import); leaves a formatter the learner set
    (``%matplotlib ...``) alone. Returns whether a formatter is in place."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    png = shell.display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(Figure)
    except KeyError:
        png.for_type(Figure, figure_png)
    return True


def _figure(**kw) -> Figure:
    """A new Figure, which IPython (when this runs in it) knows how to show."""
    show_figures_in_jupyter()
    return Figure(**kw)
