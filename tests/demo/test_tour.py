"""The README's tour, in a real terminal (tmux, 110x34) as a newcomer does it, and a monkey at the keys during a
live canary: the console must never crash (a crash there is the worst bug the product can ship)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_prometheus
from tests.tui.test_tmux_smoke import _screen, _tmux, _wait_for

if shutil.which("tmux") is None and os.environ.get("CI") == "true":
    raise RuntimeError("tmux is required for the console's terminal tests under CI; `make test` installs it")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

# every key the console binds, and the keys of its screens and modals; never q or ctrl+c (they end the demo)
MONKEY_KEYS = [
    "1", "2", "3", "4", "?", "/", "r", "o", "D", "h", "s", "d", "a", "x", "p", "P", "R", "A", "b", "f", "F", "u",
    "j", "k", "Enter", "Escape", "Escape", "Up", "Down", "Left", "Right", "Tab", "BTab", "PageUp", "PageDown",
    "Home", "End", "Space", "C-p", "v1.4.9", "trade-service", "BSpace",
]  # fmt: skip


class Demo:
    """`gitopsctl demo` in its own tmux session; the shell records its exit code when it ends."""

    def __init__(self, tmp_path: Path, width: int = 110, height: int = 34) -> None:
        self.session = f"gitopsctl-tour-{os.getpid()}-{width}"
        self.done = tmp_path / "exit-code"
        # the console draws on the terminal (stderr too: a traceback would show in the pane, where it is looked for)
        script = f'"{sys.executable}" -m gitopsctl demo; echo $? > "{self.done}"; sleep 60'
        env = {"TERM": "xterm-256color", "HOME": str(tmp_path)}
        exports = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        _tmux(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), *exports, "bash", "-c", script
        )
        _tmux("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))

    def keys(self, *keys: str) -> None:
        for key in keys:
            _tmux("send-keys", "-t", self.session, key)
            if key == "Escape":  # a key right after ESC would reach the console as alt+key, as from a person typing
                time.sleep(0.3)

    def wait(self, text: str, timeout: float = 60) -> str:
        self.alive()
        return _wait_for(self.session, text, timeout)

    def alive(self) -> None:
        assert not self.done.exists(), f"the demo ended:\n{self.scrollback()}"
        assert "Traceback" not in self.scrollback(), self.scrollback()

    def scrollback(self) -> str:
        """The screen and what scrolled off it: a traceback printed as the console ends is longer than a screen."""
        return _tmux("capture-pane", "-p", "-S", "-400", "-t", self.session)

    def quit(self, context: str = "") -> None:
        self.keys("Escape", "Escape", "Escape", "q")
        deadline = time.monotonic() + 60
        while not self.done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.done.exists(), f"{context}the demo did not end on q:\n{_screen(self.session)}\n{self.stacks()}"
        screen = self.scrollback()
        assert self.done.read_text().strip() == "0" and "Traceback" not in screen, screen
        assert "everything stopped; the demo is over." in screen

    def stacks(self) -> str:
        """What the demo's threads are doing (with py-spy on PATH): why it has not ended."""
        if shutil.which("py-spy") is None:
            return "(py-spy is not installed: no stacks)"
        shell = _tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip()
        children = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True, check=False).stdout.split()
        return "\n".join(
            subprocess.run(["py-spy", "dump", "--pid", pid], capture_output=True, text=True, check=False).stdout
            for pid in children
        )

    def close(self) -> None:
        _tmux("kill-session", "-t", self.session)


@pytest.mark.timeout(300)
def test_the_readmes_tour_in_a_terminal_never_crashes(tmp_path):
    require_prometheus()
    demo = Demo(tmp_path)
    try:
        demo.wait("The demo is ready: press 1", timeout=120)
        demo.keys("1")  # a good release; Enter on the prod cell during its canary
        demo.wait("Progressing → v1.4.2", timeout=60)
        demo.keys("Enter")
        demo.wait("on the canary")
        demo.keys("Escape")
        demo.wait("Promoted: trade-service v1.4.2", timeout=90)

        demo.keys("2")  # the bad release; Enter while its analysis fails (the plots get NaN and errors)
        demo.wait("v1.4.3-bad", timeout=60)
        demo.keys("Enter")
        demo.wait("Analysis", timeout=30)
        demo.wait("Aborted", timeout=90)  # the detail screen follows the abort
        demo.keys("Escape")

        demo.keys("3")  # drift, then the diff and the history of the selected cell
        demo.wait("drift report: trade-service in prod", timeout=60)
        demo.keys("D")
        time.sleep(1)  # the diff screen opens; D and h are checked only for not crashing
        demo.alive()
        demo.keys("Escape", "h")
        demo.wait("History of", timeout=30)
        demo.keys("Escape")
        demo.alive()
        demo.quit()
    finally:
        demo.close()


@pytest.mark.timeout(300)
def test_a_minute_of_random_keys_during_a_live_canary_never_crashes_the_console(tmp_path):
    require_prometheus()
    demo = Demo(tmp_path, width=80, height=24)  # the smallest terminal it must work in
    seed = int(os.environ.get("MONKEY_SEED", time.time()))
    monkey = random.Random(seed)
    try:
        demo.wait("The demo is ready: press 1", timeout=120)
        demo.keys("1")
        ends = time.monotonic() + 60
        pressed = []
        while time.monotonic() < ends:
            key = monkey.choice(MONKEY_KEYS)
            pressed.append(key)
            demo.keys(key)
            time.sleep(monkey.uniform(0.02, 0.3))
            if len(pressed) % 25 == 0:
                assert not demo.done.exists(), f"seed {seed}, keys {pressed[-25:]}:\n{demo.scrollback()}"
                demo.alive()
        demo.alive()
        demo.quit(f"seed {seed}, the last keys {pressed[-25:]}: ")
    finally:
        demo.close()
