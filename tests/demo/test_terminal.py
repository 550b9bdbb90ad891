"""The real `gitopsctl demo` in a real terminal (tmux) at 80x24: the console and its guide, keys that make drift
and start a release, and on q (mid-canary) everything stopped: no Prometheus left running, no directory left."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_prometheus
from tests.tui.test_tmux_smoke import _screen, _tmux, _wait_for

if shutil.which("tmux") is None and os.environ.get("CI") == "true":
    raise RuntimeError("tmux is required for the console's terminal tests under CI; `make test` installs it")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and text in cmdline and "tmux" not in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.timeout(180)
def test_make_demo_shows_the_console_with_its_guide_and_stops_everything_on_quit(tmp_path):
    require_prometheus()
    session = f"gitopsctl-demo-{os.getpid()}"
    done = tmp_path / "exit-code"
    # the shell records the exit code after the demo ends, so the test can read the demo's last words
    script = f'"{sys.executable}" -m gitopsctl demo; echo $? > "{done}"; sleep 60'
    env = {"TERM": "xterm-256color", "HOME": str(tmp_path)}
    exports = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", *exports, "bash", "-c", script)
    _tmux("resize-window", "-t", session, "-x", "80", "-y", "24")  # the smallest terminal it must fit
    try:
        screen = _wait_for(session, "a good release of trade-service", timeout=90)
        assert "analysis: Prometheus at http://127.0.0.1:" in screen
        assert "Slack: off" in screen
        found = re.search(r"files: (/\S+)", screen)
        assert found, screen
        root = found.group(1)
        assert _processes_mentioning(root), "Prometheus runs from the demo's directory"
        _wait_for(session, "Synced · Healthy")

        _tmux("send-keys", "-t", session, "3")
        _wait_for(session, "[DRIFT 1]", timeout=30)

        _tmux("send-keys", "-t", session, "1")
        _wait_for(session, "Progressing → v1.4.2", timeout=60)
        _tmux("send-keys", "-t", session, "q")  # mid-canary: q does not wait for the rollout to end
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done.exists(), f"the demo did not end on q:\n{_screen(session)}"
        assert done.read_text().strip() == "0"
        assert "everything stopped; the demo is over." in _screen(session)
        assert "promoted trade-service" not in _screen(session), "the release went on after q"
        assert not Path(root).exists(), "the demo's directory is removed"
        assert not _processes_mentioning(root), "nothing the demo started is left running"
    finally:
        _tmux("kill-session", "-t", session)
