"""What a reader of a figure must be able to rely on, checked on the rendered figure."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


def rendered(fig):
    """The figure drawn once (as savefig would), and its renderer."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def all_texts(fig):
    out = [t for t in fig.texts] + ([fig._suptitle] if fig._suptitle else [])
    for ax in fig.axes:
        out += (
            list(ax.texts)
            + [ax.title]
            + ([t for t in ax.get_legend().get_texts()] if ax.get_legend() else [])
        )
    for leg in fig.legends:
        out += list(leg.get_texts())
    return [t for t in out if t.get_visible() and t.get_text().strip()]


def overlapping_labels(fig, tolerance_px: float = 0.5):
    """Pairs of texts whose rendered boxes (renderer get_window_extent) overlap."""
    r = rendered(fig)
    boxes = [(t.get_text(), t.get_window_extent(r)) for t in all_texts(fig)]
    bad = []
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1 :]:
            if (
                ba.x0 < bb.x1 - tolerance_px
                and bb.x0 < ba.x1 - tolerance_px
                and ba.y0 < bb.y1 - tolerance_px
                and bb.y0 < ba.y1 - tolerance_px
            ):
                bad.append((a, b))
    return bad


def arrows_through_boxes(fig, step: float = 0.02):
    """Arrows whose drawn path passes through a box that is neither its start nor its end:
    ``[(arrow, box)]``. Boxes and arrows are named by their gid (arrows ``"start -> end"``)."""
    ax = fig.axes[0]
    boxes = {p.get_gid(): p.get_bbox() for p in ax.patches if isinstance(p, FancyBboxPatch) and p.get_gid()}
    bad = []
    for arrow in (p for p in ax.patches if isinstance(p, FancyArrowPatch)):
        ends = set(arrow.get_gid().split(" -> "))
        samples = []  # the drawn path in data coordinates, arrowhead included
        for pts in arrow.get_path().to_polygons(closed_only=False):
            for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
                n = max(1, int(max(abs(x1 - x0), abs(y1 - y0)) / step))
                samples += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(n + 1)]
        for name, bb in boxes.items():
            if name in ends:
                continue
            if any(bb.x0 < x < bb.x1 and bb.y0 < y < bb.y1 for x, y in samples):
                bad.append((arrow.get_gid(), name))
    return bad
