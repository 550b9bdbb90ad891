"""Rendering results for people: aligned tables, coloured states on a terminal, unified diffs."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

_COLOURS = {
    "Synced": "32",
    "Healthy": "32",
    "Succeeded": "32",
    "clean": "32",
    "OutOfSync": "33",
    "Progressing": "33",
    "changed": "33",
    "Degraded": "31",
    "Missing": "31",
    "Failed": "31",
    "missing": "31",
    "extra": "35",
    "Unknown": "90",
}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def paint(text: str, stream: TextIO = sys.stdout) -> str:
    code = _COLOURS.get(text)
    return f"\x1b[{code}m{text}\x1b[0m" if code and use_colour(stream) else text


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], stream: TextIO = sys.stdout) -> str:
    """Columns aligned on their plain text; states coloured on a terminal (colour is never the only signal)."""
    cells = [[("-" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        parts = [paint(c, stream) + " " * (w - len(c)) for c, w in zip(row, widths, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def short(sha: str | None) -> str | None:
    return sha[:12] if sha else sha
