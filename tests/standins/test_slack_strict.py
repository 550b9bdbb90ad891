"""The Slack stand-in refuses what Slack refuses, seen through slack_sdk's own clients as the bot sees it."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
import yaml
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from standins.slack import MANIFEST, SlackStandIn

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN, APP_TOKEN = "xoxb-strict-test", "xapp-1-A0GITOPS-strict"
BUTTON = {"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"}, "value": "{}"}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(SECRET, bot_token=TOKEN, app_token=APP_TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url)


def refusal(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as refused:
        call()
    return refused.value


# ------------------------------------------------------------ conversations


def test_a_channel_name_is_answered_with_its_id_and_update_and_delete_need_the_id(slack, client):
    channel = slack.add_channel("#deploys-prod", members=["UALICE"], bot=True)
    posted = client.chat_postMessage(channel="#deploys-prod", text="Deploy ledger v1.0.5")
    assert posted["channel"] == channel and channel.startswith("C")

    by_name = refusal(lambda: client.chat_update(channel="#deploys-prod", ts=posted["ts"], text="Deployed"))
    assert by_name.response["error"] == "channel_not_found"
    unknown = refusal(lambda: client.chat_update(channel=channel, ts="1.000100", text="Deployed"))
    assert unknown.response["error"] == "message_not_found"
    assert [m["text"] for m in slack.messages(channel)] == ["Deploy ledger v1.0.5"]  # nothing changed

    client.chat_update(channel=channel, ts=posted["ts"], text="Deployed")
    assert [m["text"] for m in slack.messages(channel)] == ["Deployed"]
    assert refusal(lambda: client.chat_delete(channel="#deploys-prod", ts=posted["ts"])).response["error"] == (
        "channel_not_found"
    )
    client.chat_delete(channel=channel, ts=posted["ts"])
    assert slack.messages(channel) == []


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("public, bot not invited", "not_in_channel"),
        ("private, bot not invited", "channel_not_found"),
        ("DM between two people", "channel_not_found"),
        ("archived", "is_archived"),
        ("no such channel", "channel_not_found"),
    ],
)
def test_posting_where_the_bot_is_not_a_member_fails_as_slack_fails_and_shows_nothing(slack, client, where, error):
    channel = {
        "public, bot not invited": lambda: slack.add_channel("#ops", members=["UALICE"]),
        "private, bot not invited": lambda: slack.add_channel("#deploys-prod", members=["UALICE"], private=True),
        "DM between two people": lambda: slack.add_dm("UALICE", "UBOB"),
        "archived": lambda: slack.add_channel("#old-deploys", members=["UALICE"], bot=True, archived=True),
        "no such channel": lambda: "C0NOSUCH",
    }[where]()
    refused = refusal(lambda: client.chat_postMessage(channel=channel, text="Deploy ledger v1.0.5"))
    assert refused.response["error"] == error
    assert slack.of("chat.postMessage") == [] and [c.response["error"] for c in slack.refused] == [error]
    if channel in slack.conversations:
        assert slack.messages(channel) == []


def test_the_bot_posts_in_a_private_channel_it_was_invited_to_and_in_its_dm_with_someone(slack, client):
    private = slack.add_channel("#deploys-prod", members=["UALICE"], bot=True, private=True)
    assert private.startswith("G")
    assert client.chat_postMessage(channel="#deploys-prod", text="hi")["channel"] == private
    dm = client.chat_postMessage(channel="UALICE", text="only for you")["channel"]
    assert dm.startswith("D") and client.chat_postMessage(channel=dm, text="again")["channel"] == dm
    assert [m["text"] for m in slack.messages(dm)] == ["only for you", "again"]


def test_the_default_workspace_has_the_channels_the_tests_and_the_demo_use(slack, client):
    for name in ("#deploys", "#dev", "#staging", "#prod", "#gitopsctl-demo"):
        assert client.chat_postMessage(channel=name, text="hello")["channel"] == slack.channel_id(name)
    assert slack.channel_id("#deploys") == "C0DEPLOYS"


def test_commands_and_clicks_carry_the_channel_id_as_slack_sends_it(slack):
    body = dict(parse_qsl(slack.command_body("/deploy", "x dev", user="UALICE", user_name="alice", channel="#dev")))
    assert (body["channel_id"], body["channel_name"]) == ("C0DEV", "dev")
    private = slack.add_channel("#deploys-prod", private=True)
    payload = slack.click_payload("approve", "{}", user="UBOB", user_name="bob", message_ts="1.0", channel=private)
    assert payload["container"]["channel_id"] == private and payload["channel"]["name"] == "privategroup"


# ------------------------------------------------------------ tokens, scopes, methods


def test_a_missing_or_wrong_token_is_refused(slack):
    assert refusal(lambda: WebClient(base_url=slack.api_url).auth_test()).response["error"] == "not_authed"
    for wrong in ("xoxb-someone-else", APP_TOKEN, "xoxp-user-token"):
        client = WebClient(token=wrong, base_url=slack.api_url)
        assert refusal(lambda c=client: c.chat_postMessage(channel="#dev", text="x")).response["error"] == (
            "invalid_auth"
        )
    sockets = WebClient(base_url=slack.api_url)
    assert refusal(lambda: sockets.apps_connections_open(app_token=TOKEN)).response["error"] == "invalid_auth"
    assert sockets.apps_connections_open(app_token=APP_TOKEN)["url"].startswith("ws://127.0.0.1:")
    assert slack.of("chat.postMessage") == [] and slack.messages("#dev") == []


def test_a_method_needing_a_scope_the_manifest_lacks_is_missing_scope(slack, client):
    manifest = yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]
    assert slack.scopes == set(manifest)
    refused = refusal(lambda: client.conversations_info(channel="C0DEV"))
    assert refused.response["error"] == "missing_scope" and refused.response["needed"] == "channels:read"
    with SlackStandIn(SECRET, scopes=["commands"]) as narrow:
        poster = WebClient(token=TOKEN, base_url=narrow.api_url)
        refused = refusal(lambda: poster.chat_postMessage(channel="#dev", text="x"))
        assert refused.response["error"] == "missing_scope" and refused.response["needed"] == "chat:write"
        assert narrow.messages("#dev") == []


def test_an_unknown_method_is_unknown_method(client):
    refused = refusal(lambda: client.api_call("chat.postMessages", json={"channel": "#dev", "text": "x"}))
    assert refused.response["error"] == "unknown_method"


# ------------------------------------------------------------ Block Kit limits


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def confirm(**sizes: int) -> dict:
    text = {"title": 100, "text": 300, "confirm": 30, "deny": 30} | sizes
    return {k: {"type": "mrkdwn" if k == "text" else "plain_text", "text": "x" * n} for k, n in text.items()}


LIMITS = [
    ([section("x" * 3001)], "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"),
    ([section("")], "must be more than 0 characters [json-pointer:/blocks/0/text/text]"),
    (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        "must be less than 11 items [json-pointer:/blocks/0/fields]",
    ),
    (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
    ),
    (
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
    ),
    (
        [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
        "must provide an object of type plain_text [json-pointer:/blocks/0/text]",
    ),
    (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        "must be less than 11 items [json-pointer:/blocks/0/elements]",
    ),
    (
        [{"type": "actions", "elements": [BUTTON | {"text": {"type": "plain_text", "text": "b" * 76}}]}],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
    ),
    (
        [{"type": "actions", "elements": [BUTTON | {"value": "v" * 2001}]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
    ),
    (
        [{"type": "actions", "elements": [BUTTON | {"action_id": "a" * 256}]}],
        "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
    ),
    (
        [{"type": "actions", "elements": [BUTTON | {"confirm": confirm(title=101)}]}],
        "must be less than 101 characters [json-pointer:/blocks/0/elements/0/confirm/title/text]",
    ),
    (
        [{"type": "actions", "elements": [BUTTON | {"confirm": confirm(text=301)}]}],
        "must be less than 301 characters [json-pointer:/blocks/0/elements/0/confirm/text/text]",
    ),
    (
        [{"type": "actions", "elements": [BUTTON | {"confirm": confirm(confirm=31)}]}],
        "must be less than 31 characters [json-pointer:/blocks/0/elements/0/confirm/confirm/text]",
    ),
    (
        [{"type": "actions", "elements": [BUTTON | {"confirm": confirm(deny=31)}]}],
        "must be less than 31 characters [json-pointer:/blocks/0/elements/0/confirm/deny/text]",
    ),
    ([section("s")] * 51, "must be less than 51 items [json-pointer:/blocks]"),
]


@pytest.mark.parametrize(("blocks", "reason"), LIMITS, ids=[r.split("json-pointer:")[1][:-1] for _, r in LIMITS])
def test_a_block_kit_limit_broken_is_invalid_blocks_with_slacks_reason_and_nothing_is_posted(
    slack, client, blocks, reason
):
    refused = refusal(lambda: client.chat_postMessage(channel="#dev", text="t", blocks=blocks))
    assert refused.response["error"] == "invalid_blocks"
    assert refused.response["response_metadata"]["messages"] == [f"[ERROR] {reason}"]
    assert slack.messages("#dev") == []
    posted = client.chat_postMessage(channel="#dev", text="t", blocks=[section("ok")])
    update = refusal(lambda: client.chat_update(channel=posted["channel"], ts=posted["ts"], text="t", blocks=blocks))
    assert update.response["error"] == "invalid_blocks"
    assert slack.messages("#dev")[0]["blocks"] == [section("ok")]


def test_every_limit_at_its_edge_is_accepted(client):
    blocks = [
        section("x" * 3000),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        {
            "type": "actions",
            "elements": [
                BUTTON
                | {"text": {"type": "plain_text", "text": "b" * 75}, "value": "v" * 2000, "action_id": "a" * 255}
                | {"confirm": confirm()}
            ],
        },
        {"type": "divider"},
    ]
    blocks += [section("s")] * (50 - len(blocks))
    assert client.chat_postMessage(channel="#dev", text="t", blocks=blocks)["ok"]


def test_text_longer_than_40000_characters_is_truncated(slack, client):
    posted = client.chat_postMessage(channel="#dev", text="x" * 40_100)
    assert len(posted["message"]["text"]) == 40_000 and len(slack.messages("#dev")[0]["text"]) == 40_000


# ------------------------------------------------------------ rate limits


def test_a_throttled_method_answers_429_with_retry_after_and_slack_sdk_retries_it(slack, client):
    slack.throttle("chat.postMessage", every=3, retry_after=1)
    client.chat_postMessage(channel="#dev", text="1")
    client.chat_postMessage(channel="#dev", text="2")
    refused = refusal(lambda: client.chat_postMessage(channel="#dev", text="3"))
    assert refused.response.status_code == 429 and refused.response["error"] == "ratelimited"
    assert refused.response.headers["Retry-After"] == "1"
    assert client.auth_test()["ok"] and client.auth_test()["ok"] and client.auth_test()["ok"]  # other methods: not
    assert [m["text"] for m in slack.messages("#dev")] == ["1", "2"]

    patient = WebClient(
        token=TOKEN, base_url=slack.api_url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)]
    )
    for n in range(4, 10):
        patient.chat_postMessage(channel="#dev", text=str(n))
    assert [m["text"] for m in slack.messages("#dev")] == [str(n) for n in (1, 2, *range(4, 10))]
    assert [c.response["error"] for c in slack.refused] == ["ratelimited"] * 3  # the 3rd, 6th and 9th call


def test_throttling_every_method(slack, client):
    slack.throttle(every=2, retry_after=3)
    client.auth_test()
    refused = refusal(client.auth_test)
    assert refused.response.status_code == 429 and refused.response.headers["Retry-After"] == "3"
    slack.unthrottle()
    assert client.auth_test()["ok"] and client.auth_test()["ok"]


# ------------------------------------------------------------ response_url


def test_a_response_url_takes_five_posts_then_used_url(slack):
    hook = WebhookClient(slack.response_url())
    answers = [hook.send(text=f"answer {n}") for n in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [404]
    assert answers[5].body == "used_url"
    assert [c.params["text"] for c in slack.of("response_url")] == [f"answer {n}" for n in range(5)]


def test_a_response_url_expires_after_30_minutes(slack):
    hook = WebhookClient(slack.response_url())
    assert hook.send(text="in time").status_code == 200
    slack.advance(30 * 60 + 1)
    late = hook.send(text="too late")
    assert (late.status_code, late.body) == (404, "expired_url")
    unknown = WebhookClient(f"{slack.url}/respond/999999").send(text="forged")
    assert (unknown.status_code, unknown.body) == (404, "no_service")
    assert [c.params["text"] for c in slack.of("response_url")] == ["in time"]


def test_a_response_url_refuses_invalid_blocks(slack):
    refused = WebhookClient(slack.response_url()).send(text="t", blocks=[section("x" * 3001)])
    assert (refused.status_code, refused.body) == (400, "invalid_blocks") and slack.of("response_url") == []


# ------------------------------------------------------------ Socket Mode


@pytest.mark.timeout(60)
def test_bolts_socket_mode_handler_reconnects_after_disconnect_and_acks_a_click(slack):
    app = App(token=TOKEN, client=WebClient(token=TOKEN, base_url=slack.api_url))

    @app.action("approve")
    def approve(ack, body, client):
        ack()
        container = body["container"]
        client.chat_update(channel=container["channel_id"], ts=container["message_ts"], text="Approved")

    root = WebClient(token=TOKEN, base_url=slack.api_url).chat_postMessage(channel="#prod", text="Approve?")
    handler = SocketModeHandler(app, APP_TOKEN)
    handler.connect()
    try:
        slack.socket_mode.wait_for(opened=1)
        slack.socket_mode.disconnect("refresh_requested")
        slack.socket_mode.wait_for(opened=2, connected=1)
        assert len(slack.of("apps.connections.open")) == 2  # it asked Slack for a new URL

        ack = slack.socket_click(
            "approve", "{}", user="UBOB", user_name="bob", message_ts=root["ts"], channel=root["channel"]
        )
        assert "envelope_id" in ack
        slack.wait("chat.update", lambda c: c.params.get("ts") == root["ts"], 10)
        assert [m["text"] for m in slack.messages("#prod")] == ["Approved"]
    finally:
        handler.close()
