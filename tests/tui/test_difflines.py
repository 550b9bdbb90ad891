"""The diff's lines: coloured by what they say, nothing from a manifest reaching the terminal as a control sequence,
and a long diff paged a screen at a time."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

from tui.difflines import DiffLines

DIFF = "\n".join(
    [
        "--- live/ConfigMap/big",
        "+++ git/ConfigMap/big",
        "@@ -1,5000 +1,5000 @@",
        *(f"-  key-{n}: live-{n}" for n in range(2500)),
        *(f"+  key-{n}: git-{n}" for n in range(2500)),
    ]
)


class OneDiff(App):
    def __init__(self, diff: str) -> None:
        super().__init__()
        self.diff = diff
        self.animation_level = "none"

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="box"):
            yield DiffLines(self.diff)


def texts_and_colours(widget: DiffLines, rows: range) -> list[tuple[str, str | None]]:
    out = []
    for y in rows:
        segments = [s for s in widget.render_line(y) if s.text.strip()]
        colour = segments[0].style.color.name if segments and segments[0].style.color else None
        out.append(("".join(s.text for s in segments).strip(), colour))
    return out


def test_lines_are_coloured_by_their_first_character():
    async def run():
        app = OneDiff(DIFF)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            widget = app.query_one(DiffLines)
            assert widget.size.height == 5003
            shown = texts_and_colours(widget, range(4))
            assert shown[2] == ("@@ -1,5000 +1,5000 @@", "cyan")
            assert shown[3] == ("-  key-0: live-0", "red")
            assert texts_and_colours(widget, range(2503, 2504)) == [("+  key-0: git-0", "green")]

    asyncio.run(run())


def test_page_down_moves_a_screen_of_a_5000_line_diff():
    async def run():
        app = OneDiff(DIFF)
        async with app.run_test(size=(80, 24)) as pilot:
            box = app.query_one("#box", VerticalScroll)
            box.focus()
            await pilot.pause()
            await pilot.press("pagedown")
            await pilot.pause()
            assert box.scroll_y == 24

    asyncio.run(run())


def test_control_characters_from_a_manifest_are_not_sent_to_the_terminal():
    widget = DiffLines("+  note: \x1b]52;c;cHduZWQ=\x07 \x9b2J done\x7f")
    text = "".join(widget.lines)
    assert "\x1b" not in text and "\x07" not in text and "\x7f" not in text
    assert "\x9b" not in text  # C1's CSI: some terminals act on it as on ESC [
