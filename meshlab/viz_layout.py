"""Geometry for the figures: arrows routed around boxes, labels placed where they cover nothing.

Pure geometry, no matplotlib. A :class:`Router` lays a grid over the drawing, blocks every box
(with a margin), and finds each arrow an orthogonal route from the side of its start box to the
side of its end box — the cheapest by length, turns and lanes already taken, so arrows run beside
each other rather than on top of each other, and never through a box they do not connect.
:func:`first_free` picks the first of several candidate label boxes that overlaps none taken.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Box:
    name: str
    rect: Rect


def overlaps(a: Rect, b: Rect, pad: float = 0.0) -> bool:
    """Do rectangles ``a`` and ``b`` overlap (sharing more than ``pad`` on both axes)?"""
    return a[0] < b[2] - pad and b[0] < a[2] - pad and a[1] < b[3] - pad and b[1] < a[3] - pad


def first_free(candidates, taken: list[Rect], pad: float = 0.0):
    """The first candidate (any object whose ``[0]`` is its rect) that overlaps nothing in ``taken``."""
    for c in candidates:
        if not any(overlaps(c[0], t, pad) for t in taken):
            return c
    return None


_DIRS = ((1, 0), (-1, 0), (0, 1), (0, -1))


class Router:
    """Orthogonal arrow routes on a grid of ``cell``-sized squares over ``bounds``, around ``boxes``.

    Every box is blocked with ``margin`` around it; a route leaves its start box square to one of
    its sides and enters its end box the same way. ``route`` remembers the cells it used, and later
    routes pay to run along them (crossing them is cheap), so parallel arrows get lanes of their own.
    """

    TURN, ALONG, BESIDE = 3.0, 12.0, 2.0

    def __init__(
        self,
        bounds: Rect,
        boxes: list[Box],
        cell: float = 0.1,
        margin: float = 0.12,
        blocked: list[Rect] = (),
    ):
        self.x0, self.y0 = bounds[0], bounds[1]
        self.cell = cell
        self.nx = int(math.ceil((bounds[2] - bounds[0]) / cell))
        self.ny = int(math.ceil((bounds[3] - bounds[1]) / cell))
        self.boxes = {b.name: b for b in boxes}
        self.margin = margin
        self.blocked = [[False] * self.ny for _ in range(self.nx)]
        for r in [b.rect for b in boxes] + list(blocked):
            for i, j in self._cells_in((r[0] - margin, r[1] - margin, r[2] + margin, r[3] + margin)):
                self.blocked[i][j] = True
        self.used: dict[tuple[int, int], set[int]] = {}  # cell -> axes used (0: x, 1: y)

    def _center(self, i: int, j: int) -> tuple[float, float]:
        return self.x0 + (i + 0.5) * self.cell, self.y0 + (j + 0.5) * self.cell

    def _cells_in(self, r: Rect):
        i0 = max(0, int(math.floor((r[0] - self.x0) / self.cell)))
        i1 = min(self.nx - 1, int(math.floor((r[2] - self.x0) / self.cell)))
        j0 = max(0, int(math.floor((r[1] - self.y0) / self.cell)))
        j1 = min(self.ny - 1, int(math.floor((r[3] - self.y0) / self.cell)))
        for i in range(i0, i1 + 1):
            for j in range(j0, j1 + 1):
                yield i, j

    def _ports(self, box: Box):
        """Free cells just outside a box's margin, each with the point on the box's edge it faces
        and the direction (dx, dy) pointing away from the box."""
        x0, y0, x1, y1 = box.rect
        out = []
        for i, j in self._cells_in(
            (
                x0 - self.margin - self.cell,
                y0 - self.margin - self.cell,
                x1 + self.margin + self.cell,
                y1 + self.margin + self.cell,
            )
        ):
            if self.blocked[i][j]:
                continue
            cx, cy = self._center(i, j)
            within_x = x0 + self.cell / 2 <= cx <= x1 - self.cell / 2  # faces the side, not its corner
            within_y = y0 + self.cell / 2 <= cy <= y1 - self.cell / 2
            if within_x and cy > y1:
                out.append(((i, j), (cx, y1), (0, 1)))
            elif within_x and cy < y0:
                out.append(((i, j), (cx, y0), (0, -1)))
            elif within_y and cx > x1:
                out.append(((i, j), (x1, cy), (1, 0)))
            elif within_y and cx < x0:
                out.append(((i, j), (x0, cy), (-1, 0)))
        # only the ring nearest the box: a port must have a blocked neighbour towards the box
        return [p for p in out if self.blocked[p[0][0] - p[2][0]][p[0][1] - p[2][1]]]

    def _step_cost(self, cell, axis: int) -> float:
        cost = 1.0
        if axis in self.used.get(cell, ()):
            cost += self.ALONG
        i, j = cell
        side = ((i, j + 1), (i, j - 1)) if axis == 0 else ((i + 1, j), (i - 1, j))
        cost += sum(self.BESIDE for c in side if axis in self.used.get(c, ()))
        return cost

    def route(self, start: str, end: str) -> list[tuple[float, float]] | None:
        """Vertices of a route from box ``start`` to box ``end`` (edge to edge), or None if there is none."""
        a, b = self.boxes[start], self.boxes[end]
        if start == end:
            return self.loop(start)
        goals = {cell: (pt, d) for cell, pt, d in self._ports(b)}
        if not goals:
            return None
        gx0, gy0, gx1, gy1 = b.rect

        def h(cell):
            cx, cy = self._center(*cell)
            return (max(gx0 - cx, 0, cx - gx1) + max(gy0 - cy, 0, cy - gy1)) / self.cell * 0.5

        frontier, best, came = [], {}, {}
        for cell, pt, d in self._ports(a):
            state = (cell, d)
            best[state] = 0.0
            came[state] = ("start", pt)
            heapq.heappush(frontier, (h(cell), 0.0, state))
        while frontier:
            _, g, state = heapq.heappop(frontier)
            if g > best.get(state, math.inf):
                continue
            cell, d = state
            if cell in goals:
                pt, gd = goals[cell]
                if d != (-gd[0], -gd[1]):
                    g += self.TURN  # it must turn to enter the box square to its side
                return self._finish(state, came, pt)
            for nd in _DIRS:
                if nd == (-d[0], -d[1]):
                    continue
                ni, nj = cell[0] + nd[0], cell[1] + nd[1]
                if not (0 <= ni < self.nx and 0 <= nj < self.ny) or self.blocked[ni][nj]:
                    continue
                ng = g + self._step_cost((ni, nj), 0 if nd[0] else 1) + (self.TURN if nd != d else 0.0)
                ns = ((ni, nj), nd)
                if ng < best.get(ns, math.inf):
                    best[ns] = ng
                    came[ns] = state
                    heapq.heappush(frontier, (ng + h((ni, nj)), ng, ns))
        return None

    def _finish(self, state, came, end_pt):
        cells = []
        while not isinstance(came[state], tuple) or came[state][0] != "start":
            cells.append(state[0])
            state = came[state]
        cells.append(state[0])
        start_pt = came[state][1]
        cells.reverse()
        pts = [start_pt] + [self._center(*c) for c in cells] + [end_pt]  # ports face their cells square
        for k, c in enumerate(cells):
            nxt = cells[k + 1] if k + 1 < len(cells) else None
            prv = cells[k - 1] if k else None
            axes = set()
            for o in (nxt, prv):
                if o is not None:
                    axes.add(0 if o[0] != c[0] else 1)
            self.used.setdefault(c, set()).update(axes or {0, 1})
        return simplify(pts)

    def loop(self, name: str, side: str = "below") -> list[tuple[float, float]]:
        """A short loop out of a box's foot and back in, for a hop that stays in one box (a ztunnel
        handing a connection to a pod on its own node). Later loops on the same box sit beside
        the earlier ones."""
        x0, y0, x1, y1 = self.boxes[name].rect
        k = sum(1 for (n, _) in getattr(self, "_loops", ()) if n == name)
        self._loops = getattr(self, "_loops", []) + [(name, k)]
        width, depth = 0.5, 2 * self.cell + self.margin
        left = x0 + 0.3 + k * (width + 0.3)
        pts = [(left, y0), (left, y0 - depth), (left + width, y0 - depth), (left + width, y0)]
        for x, y in pts[1:3]:
            i, j = int((x - self.x0) / self.cell), int((y - self.y0) / self.cell)
            if 0 <= i < self.nx and 0 <= j < self.ny:
                self.used.setdefault((i, j), set()).add(0)
        return pts


def simplify(pts):
    """Drop the middle of three collinear points."""
    out = [pts[0]]
    for k in range(1, len(pts) - 1):
        a, b, c = out[-1], pts[k], pts[k + 1]
        if abs((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])) > 1e-9:
            out.append(b)
    out.append(pts[-1])
    return out


def points_along(pts, step: float):
    """Points every ``step`` along a polyline, with their distance from its start, and its length."""
    out, dist = [], 0.0
    for (ax, ay), (bx, by) in zip(pts, pts[1:]):
        seg = math.hypot(bx - ax, by - ay)
        n = max(1, int(seg / step))
        for k in range(n):
            t = k / n
            out.append(((ax + (bx - ax) * t, ay + (by - ay) * t), dist + seg * t))
        dist += seg
    out.append((pts[-1], dist))
    return out, dist
