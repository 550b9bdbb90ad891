"""A console under a pseudo-terminal, read as a user sees it: for the benchmarks that time keys to frames.

`gitopsctl tui` runs as a new process in a pty of COLS x ROWS with TERM=xterm-256color. pyte is not installed, so
the bytes Textual writes are fed to a small terminal model (cursor moves, erases and text; colours ignored), and a
clock stops at the read that first makes the model's screen show what the caller waits for.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from rich.cells import get_character_cell_size

COLS, ROWS = 120, 40
GITOPSCTL = str(Path(sys.executable).parent / "gitopsctl")  # the console script `pip install` made
TIMEOUT = 180.0


class Terminal:
    """Enough of a VT100/xterm screen to read what Textual draws: CUP and relative cursor moves, EL, ED, ECH, text.

    Colours and modes are ignored; Textual disables auto-wrap, so text past the right margin is dropped."""

    ESCAPE = re.compile(
        r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[P^_X][^\x1b]*\x1b\\|[()#%][0-9A-Za-z@]|[^\[\]P^_X()#%])"
    )
    CSI = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])")

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.grid = [[" "] * cols for _ in range(rows)]
        self.x = self.y = 0
        self.pending = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> None:
        text = self.pending + self.decoder.decode(data)
        self.pending = ""
        i = 0
        while i < len(text):
            c = text[i]
            if c == "\x1b":
                m = self.ESCAPE.match(text, i)
                if m is None:
                    if len(text) - i < 256:  # a sequence cut between two reads: the rest comes next
                        self.pending = text[i:]
                        return
                    i += 1
                    continue
                self._escape(m.group())
                i = m.end()
                continue
            if c == "\r":
                self.x = 0
            elif c == "\n":
                self.y = min(self.y + 1, self.rows - 1)
            elif c == "\b":
                self.x = max(self.x - 1, 0)
            elif c >= " ":
                width = get_character_cell_size(c)
                if width and self.x + width <= self.cols and 0 <= self.y < self.rows:
                    self.grid[self.y][self.x] = c
                    if width == 2:
                        self.grid[self.y][self.x + 1] = ""
                self.x = min(self.x + width, self.cols)
            i += 1

    def _escape(self, sequence: str) -> None:
        m = self.CSI.fullmatch(sequence)
        if m is None:
            return
        raw, final = m.groups()
        if raw.startswith(("?", ">", "<", "=")):
            if final in "hl" and any(p in ("1049", "47", "1047") for p in raw[1:].split(";")):
                self._erase(0, 0, self.rows, self.cols)  # into or out of the alternate screen: a clean one
            return
        params = [int(p) if p.isdigit() else 0 for p in raw.split(";")] if raw else []

        def arg(n: int, default: int = 1) -> int:
            return params[n] if len(params) > n and params[n] else default

        if final in "Hf":
            self.y, self.x = min(arg(0) - 1, self.rows - 1), min(arg(1) - 1, self.cols - 1)
        elif final == "A":
            self.y = max(self.y - arg(0), 0)
        elif final in "Be":
            self.y = min(self.y + arg(0), self.rows - 1)
        elif final in "Ca":
            self.x = min(self.x + arg(0), self.cols - 1)
        elif final == "D":
            self.x = max(self.x - arg(0), 0)
        elif final in "G`":
            self.x = min(arg(0) - 1, self.cols - 1)
        elif final == "d":
            self.y = min(arg(0) - 1, self.rows - 1)
        elif final == "K":
            mode = arg(0, 0)
            start, end = {0: (self.x, self.cols), 1: (0, self.x + 1)}.get(mode, (0, self.cols))
            self._erase(self.y, start, self.y + 1, end)
        elif final == "J":
            mode = arg(0, 0)
            if mode == 0:
                self._erase(self.y, self.x, self.y + 1, self.cols)
                self._erase(self.y + 1, 0, self.rows, self.cols)
            elif mode == 1:
                self._erase(0, 0, self.y, self.cols)
                self._erase(self.y, 0, self.y + 1, self.x + 1)
            else:
                self._erase(0, 0, self.rows, self.cols)
        elif final == "X":
            self._erase(self.y, self.x, self.y + 1, min(self.x + arg(0), self.cols))

    def _erase(self, top: int, left: int, bottom: int, right: int) -> None:
        for y in range(max(top, 0), min(bottom, self.rows)):
            for x in range(max(left, 0), min(right, self.cols)):
                self.grid[y][x] = " "

    def lines(self) -> list[str]:
        return ["".join(row) for row in self.grid]


class Console:
    """`gitopsctl --config CONFIG tui` as a new process in a pseudo-terminal of COLS x ROWS; its screen as drawn."""

    def __init__(self, config: Path, *extra: str) -> None:
        self.argv = [GITOPSCTL, "--config", str(config), "tui", *extra]
        self.env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)}
        self.env.pop("GITOPSCTL_BENCH_RESULTS", None)
        self.screen = Terminal(COLS, ROWS)
        self.pid = 0
        self.fd = -1
        self.started = 0.0

    def start(self) -> None:
        """Fork and exec (the clock starts here); the child sets its terminal's size before exec."""
        argv, env, size = self.argv, self.env, struct.pack("HHHH", ROWS, COLS, 0, 0)
        self.started = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: only system calls until exec
            try:
                fcntl.ioctl(1, termios.TIOCSWINSZ, size)
                os.execve(argv[0], argv, env)  # noqa: S606 (the console script itself)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd

    def wait_for(self, shown: Callable[[list[str]], bool], what: str, timeout: float = TIMEOUT) -> float:
        """Read the terminal until ``shown(screen lines)``; the perf_counter time of the read that made it so."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"timed out waiting for the console to show {what}:\n" + "\n".join(self.text()))
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:
                data = b""
            now = time.perf_counter()
            if not data:
                raise RuntimeError(f"the console exited before showing {what}:\n" + "\n".join(self.text()))
            self.screen.feed(data)
            if shown(self.screen.lines()):
                return now

    def drain(self, seconds: float) -> None:
        """Keep reading (a terminal always does) for ``seconds``: whatever Textual still draws lands on the screen."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 1 << 16)
                except OSError:
                    return
                if not data:
                    return
                self.screen.feed(data)

    def press(self, keys: bytes) -> float:
        """Write keys to the terminal as a keyboard would; the perf_counter time right after the write."""
        os.write(self.fd, keys)
        return time.perf_counter()

    def text(self) -> list[str]:
        return self.screen.lines()

    def stop(self) -> None:
        """q (the console's Quit key), then SIGTERM to this child alone if it has not exited in 10 s."""
        if not self.pid:
            return
        with contextlib.suppress(OSError):
            os.write(self.fd, b"q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.drain(0.1)
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
        else:
            os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.pid = 0
