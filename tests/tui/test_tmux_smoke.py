"""The real `gitopsctl tui` in a real terminal (tmux): it draws the fleet, takes keys, and quits cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

if shutil.which("tmux") is None and os.environ.get("CI") == "true":
    raise RuntimeError("tmux is required for the console's terminal tests under CI; `make test` installs it")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=20, check=False).stdout


def _screen(session: str) -> str:
    return _tmux("capture-pane", "-p", "-t", session)


def _wait_for(session: str, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.3)
    pytest.fail(f"{text!r} never appeared; the screen was:\n{_screen(session)}")


def test_the_console_runs_in_a_terminal(fleet, tmp_path):
    engine = fleet.reload()
    for app in engine.config.apps:
        engine.sync(app, "dev", wait=True, timeout=30)
    session = f"gitopsctl-smoke-{os.getpid()}"
    command = [
        sys.executable,
        "-m",
        "gitopsctl",
        "--config",
        str(fleet.config_path),
        "tui",
        "--read-only",
        "--refresh",
        "2",
    ]
    env = {"TERM": "xterm-256color", "HOME": str(tmp_path)}
    exports = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36", *exports, *command],
        check=True,
        timeout=20,
    )
    try:
        screen = _wait_for(session, "trade-service")
        assert "dev" in screen and "staging" in screen and "prod" in screen and "read-only" in screen
        _wait_for(session, "Synced · Healthy")
        _tmux("send-keys", "-t", session, "/")
        _tmux("send-keys", "-t", session, "-l", "ledger")
        _tmux("send-keys", "-t", session, "Enter")
        time.sleep(1.0)
        screen = _screen(session)
        assert "ledger-worker" in screen and "trade-service" not in screen
        _tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 20
        while session in _tmux("list-sessions") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session not in _tmux("list-sessions"), "the console did not quit on q"
    finally:
        _tmux("kill-session", "-t", session)
