"""A small table for notebooks: HTML where Jupyter draws it (no cell breaks inside a name or a
number, however narrow the window), aligned text everywhere else."""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple, ...]
    wrap_last: bool = True  # the last column may wrap (a long error message); the others never

    def __post_init__(self):
        object.__setattr__(self, "header", tuple(self.header))
        object.__setattr__(self, "rows", tuple(tuple("-" if v is None else v for v in r) for r in self.rows))
        bad = [r for r in self.rows if len(r) != len(self.header)]
        if bad:
            raise ValueError(f"a row has {len(bad[0])} cells, the header {len(self.header)}: {bad[0]!r}")

    def __str__(self) -> str:
        cells = [self.header, *[tuple(str(v) for v in r) for r in self.rows]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.header))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)

    def _repr_html_(self) -> str:
        last = len(self.header) - 1

        def td(tag: str, i: int, v) -> str:
            nowrap = "" if (self.wrap_last and i == last) else "white-space:nowrap;"
            align = "right" if isinstance(v, (int, float)) and not isinstance(v, bool) else "left"
            style = f"{nowrap}padding:1px 8px;text-align:{align}"
            return f"<{tag} style='{style}'>{html.escape(str(v), quote=False)}</{tag}>"

        head = "".join(td("th", i, v) for i, v in enumerate(self.header))
        body = "".join("<tr>" + "".join(td("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in self.rows)
        return (
            f"<table style='border-collapse:collapse;font-family:monospace'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
