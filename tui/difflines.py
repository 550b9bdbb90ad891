"""One object's unified diff, drawn a line at a time.

A ``Static`` holding the whole diff re-highlights and re-wraps every line whenever it is laid out: on a
5,000-line diff that took a second per key. Textual's line API asks a widget only for the lines on screen, so
this one costs the same on a 50-line diff and a 5,000-line one.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

# How a unified diff's lines read: added, removed, a hunk's position, the file names.
LINE_STYLE = {
    "+": Style(color="green"),
    "-": Style(color="red"),
    "@": Style(color="cyan"),
}
FILE_STYLE = Style(bold=True)
# Nothing from a manifest reaches the terminal as a control sequence, whatever the YAML dump let through.
CONTROL = {code: "\N{REPLACEMENT CHARACTER}" for code in [*range(32), *range(127, 160)]}


class DiffLines(Widget):
    """A unified diff as lines coloured by their first character; only the visible ones are rendered."""

    DEFAULT_CSS = "DiffLines { height: auto; width: 1fr; }"

    def __init__(self, diff: str) -> None:
        super().__init__()
        self.lines = [line.translate(CONTROL) for line in diff.splitlines()]
        self.styles_by_line = [_style(line) for line in self.lines]
        self.widest = max(map(cell_len, self.lines), default=0)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self.widest

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        segment = Segment(self.lines[y], self.rich_style + self.styles_by_line[y])
        return Strip([segment]).crop_extend(0, width, self.rich_style)


def _style(line: str) -> Style:
    if line.startswith(("+++", "---")):
        return FILE_STYLE
    return LINE_STYLE.get(line[:1], Style())
