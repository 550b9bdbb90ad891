"""Logs of long-running processes: JSON lines off a terminal, and secret values never written."""

from __future__ import annotations

import io
import json
import logging

from gitopsctl import logs


def test_logs_are_json_lines_and_secrets_are_masked_in_messages_arguments_and_tracebacks():
    stream = io.StringIO()
    logs.setup(["xoxb-very-secret-token", ""], stream=stream)
    log = logging.getLogger("gitopsctl.test")
    log.info("calling Slack with %s", "xoxb-very-secret-token")
    try:
        raise RuntimeError("auth failed for xoxb-very-secret-token")
    except RuntimeError:
        log.exception("Slack refused")
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    assert lines[0]["message"] == "calling Slack with ***" and lines[0]["level"] == "info"
    assert lines[1]["message"].startswith("Slack refused") and "***" in stream.getvalue()
    assert "xoxb-very-secret-token" not in stream.getvalue()
    logging.getLogger().handlers[:] = []
