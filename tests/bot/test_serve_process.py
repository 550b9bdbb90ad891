"""`gitopsctl serve` as a process: tokens from the environment only, never in its log; refuses to run unsafely."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from standins.slack import SlackStandIn
from tests.bot.conftest import ROLES, SECRET, free_port

BOT_TOKEN = "xoxb-1234-5678-do-not-log-me"


def _serve(fleet, *args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_path), "serve", *args],
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--slack-mode", "http"], {"SLACK_BOT_TOKEN": BOT_TOKEN}, "set SLACK_SIGNING_SECRET in the environment"),
        (["--slack-mode", "socket"], {"SLACK_BOT_TOKEN": BOT_TOKEN}, "set SLACK_APP_TOKEN in the environment"),
        (["--slack-mode", "http"], {"SLACK_SIGNING_SECRET": SECRET}, "set SLACK_BOT_TOKEN in the environment"),
    ],
)
def test_serve_refuses_to_start_without_its_tokens(fleet, args, env, says):
    blank = {"SLACK_BOT_TOKEN": None, "SLACK_SIGNING_SECRET": None, "SLACK_APP_TOKEN": None}
    process = _serve(fleet, *args, env={**blank, **env})
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and says in err


def test_serve_answers_signed_requests_and_never_logs_its_tokens(fleet):
    with SlackStandIn(SECRET) as slack:
        fleet.config_path.write_text(fleet.config_path.read_text() + ROLES.format(api=slack.api_url))
        port = free_port()
        process = _serve(
            fleet,
            "--slack-mode",
            "http",
            "--port",
            str(port),
            env={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET},
        )
        try:
            slack.bot_url = f"http://127.0.0.1:{port}/slack/events"
            deadline = time.monotonic() + 60
            while True:
                try:
                    reply = slack.command("/gitops", "help", user="UALICE", user_name="alice")
                    break
                except OSError:
                    assert time.monotonic() < deadline and process.poll() is None, "serve did not come up"
                    time.sleep(0.2)
            assert reply.status == 200 and "/deploy APP ENV [VERSION]" in json.dumps(json.loads(reply.body))
            assert slack.command("/gitops", "help", user="UALICE", user_name="alice", sign=False).status == 401
            assert slack.of("auth.test"), "the bot checks its token with auth.test at start"
            auth = slack.of("auth.test")[0]
            assert BOT_TOKEN not in json.dumps(auth.params)  # sent as a header, as Slack expects
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "serving: Slack over HTTP" in err
    assert BOT_TOKEN not in out + err and SECRET not in out + err


@pytest.mark.parametrize("flag", ["--port", "--metrics-port"])
def test_a_port_already_taken_is_one_sentence_not_a_traceback(fleet, flag):
    with SlackStandIn(SECRET) as slack, socket.socket() as taken:
        fleet.config_path.write_text(fleet.config_path.read_text() + ROLES.format(api=slack.api_url))
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        others = {"--port": str(free_port()), "--metrics-port": str(free_port())}
        others[flag] = str(port)
        process = _serve(
            fleet,
            "--slack-mode",
            "http",
            *[item for pair in others.items() for item in pair],
            env={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET},
        )
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
