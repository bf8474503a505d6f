"""One request's waterfall: a bar per hop over time, each within the request's own start and end."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..telemetry.paths import Hop, RequestPath
from .style import COLORS, L4_HATCH, _figure


def shown_interval(h: Hop, request: Hop) -> tuple[float, float, str | None]:
    """The part of hop ``h`` that belongs to ``request`` (the path's first hop), and what to say
    about the rest. An L4 hop's span is its connection's, which a kept-alive or pooled connection
    opens before the request and keeps after it: only the part that carried this request's call
    is shown (:attr:`Hop.for_request`), and the note gives the connection's lifetime. Nothing is
    drawn outside the request's own start and end."""
    start, end = h.for_request
    start, end = min(max(start, request.start), request.end), min(end, request.end)
    end = max(start, end)
    clipped = start > h.start + 1e-9 or end < h.end - 1e-9
    if h.per == "connection":
        note = f"connection open {h.ms:.1f} ms" if clipped else None
    else:
        note = f"ran {h.ms:.1f} ms in all, past the request's end" if clipped else None
    return start, end, note


def _room_for_notes(fig: Figure, ax, notes: list, least: float) -> float:
    """The x limit at which every note, written after its bar's end, ends inside the axes (so the
    figure keeps its width: a note past the axes widened the saved image beyond a notebook's
    output area, which cut it off)."""
    for t in notes:
        t.set_in_layout(False)  # else the layout shrinks the axes to make room for them
    limit = least
    for _ in range(3):  # the layout moves the axes once the limit changes: settle
        ax.set_xlim(0, limit)
        fig.draw_without_rendering()  # lay out: the axes' width and each note's, in pixels
        width = ax.get_window_extent().width
        need = least
        for t in notes:
            w = t.get_window_extent().width * 1.03
            if w < width * 0.9:  # a note wider than most of the axes cannot fit: let it be
                need = max(need, t.get_position()[0] * width / (width - w))
        if need <= limit:
            break
        limit = need
    return limit


def path_figure(path: RequestPath, title: str | None = None) -> Figure:
    """A waterfall of one request: a bar per hop over time (ms from the first byte the client
    sent), indented by depth; L4 hops hatched; hops reached over mutual TLS outlined in black and
    labelled with the identity they saw; retries labelled with their attempt.

    Every bar lies within the request's own start and end. An L4 hop (a ztunnel) handles
    connections, not requests, and a kept-alive connection can outlive the request by seconds:
    its bar is the part of the connection that carried this request, and its label says how long
    the connection was open (see :func:`shown_interval`)."""
    hops = path.hops
    t0 = hops[0].start if hops else 0.0
    fig = _figure(figsize=(9, 0.42 * len(hops) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    notes = []
    for i, h in enumerate(hops):
        y = len(hops) - 1 - i
        start, end, about = shown_interval(h, hops[0])
        ms = (end - start) * 1000
        ax.barh(
            y,
            ms,
            left=(start - t0) * 1000,
            color=COLORS.get(h.role, "#56B4E9"),
            hatch=L4_HATCH if h.layer == "L4" else None,
            edgecolor="black" if h.mtls else "white",
            linewidth=1.6 if h.mtls else 0.5,
        )
        label = "   " * h.depth + h.name + (f" ({h.direction})" if h.direction else "")
        ax.text(-0.01, y, label, transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=8)
        note = f"{ms:.2f} ms"
        if about:
            note += f" ({about})"
        if h.attempt > 1:
            note += f", attempt {h.attempt}"
        if h.mtls:
            note += f", mTLS from {h.identity.rsplit('/sa/', 1)[-1] if h.identity else '?'}"
        if h.status is not None:
            note += f", {h.status}"
        elif h.error:
            error = h.error if len(h.error) <= 60 else h.error[:57] + "..."  # long RBAC reasons
            # a long note on its own line below: on one line, a note as wide as the plot stretched
            # the time axis to five times the request (10 §4), squeezing every bar into a corner
            note += f",\n  {error}" if len(note) + len(error) > 60 else f", {error}"
        notes.append(ax.text((end - t0) * 1000, y, "  " + note, va="center", fontsize=7))
    ax.set_yticks([])
    ax.set_xlabel("time since the client started the request (ms, measured)")
    ax.set_xlim(0, _room_for_notes(fig, ax, notes, (hops[0].ms if hops else 1) * 1.15))
    roles = sorted({h.role for h in hops}, key=list(COLORS).index)
    handles = [Patch(color=COLORS[r], label=r) for r in roles]
    if any(h.layer == "L4" for h in hops):  # (the key names only what the plot shows)
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="black",
                hatch=L4_HATCH,
                label="L4 hop: its connection, while it carried this request",
            )
        )
    if any(h.mtls for h in hops):
        handles.append(Patch(facecolor="white", edgecolor="black", linewidth=1.6, label="reached over mTLS"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7, frameon=False)
    ax.set_title(title or f"one request, hop by hop ({len(hops)} hops)", fontsize=10)
    return fig
