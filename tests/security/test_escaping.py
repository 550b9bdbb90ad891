"""Attacks 9 and 11: text from Git, Slack or the cluster is shown as text, never as markup or mrkdwn.

A Git pusher writes commit titles and trailers; a Slack user types versions and reasons;
the console and the bot must show them literally: no crash, no spoofed link, no formatting.
"""

from __future__ import annotations

import asyncio
import re

from rich.segment import Segment
from textual.geometry import Region
from textual.widgets import DataTable

from bot import blocks
from bot.blocks import Release, abort_alert, commit_link, fit, release_blocks, release_text
from bot.drift import drift_lines
from gitopsctl.drift.model import AppDrift
from gitopsctl.source.manifests import ObjectRef
from gitopsctl.sync.diff import FieldChange, ResourceDiff
from tests.bot.conftest import BOB, root_blocks, start_bot
from tests.tui.test_console import SIZE, at, synced, until
from tui.app import ConsoleApp
from tui.detail import DetailScreen, HistoryScreen
from tui.modals import Ask, Confirm

WIDE = (200, 40)  # the history's title column whole

TITLE = "Tune logging [/]"
DEPLOYED_BY = "[link=https://evil.example/login]alice[/link]"
ACTOR = "ops [/b]"
HOSTILE_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: trade-service-config
data:
  LOG_LEVEL: info
  MARKETS: "LSE,XETRA"
"""


def _segments(app: ConsoleApp) -> list[Segment]:
    """Every segment the current screen renders, with its style (where a link would be)."""
    out: list[Segment] = []
    for widget in app.screen.walk_children(with_self=True):
        if widget.display and widget.size.area:
            for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height)):
                out.extend(strip)
    return out


def _links(app: ConsoleApp) -> set[str]:
    return {s.style.link for s in _segments(app) if s.style is not None and s.style.link}


def _rows(table: DataTable) -> list[list[str]]:
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def test_git_titles_trailers_and_actors_are_shown_literally_in_history_and_detail(fleet):
    engine = synced(fleet)
    fleet.repo.commit(
        {"apps/trade-service/dev/configmap.yaml": HOSTILE_CONFIGMAP},
        f"{TITLE}\n\nDeployed-by: {DEPLOYED_BY}\nApproved-by: {ACTOR}",
    )
    engine.sync("trade-service", "dev", wait=True, timeout=30, actor=ACTOR)

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=WIDE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            await pilot.press("h")
            assert isinstance(app.screen, HistoryScreen)
            releases = app.screen.query_one("#releases", DataTable)
            await until(pilot, lambda: releases.row_count >= 2, what="the releases")
            newest = _rows(releases)[0]
            assert newest[1:4] == ["Change", DEPLOYED_BY, ACTOR] and newest[5] == TITLE
            await pilot.pause()
            assert not any("evil.example" in link for link in _links(app))
            assert TITLE in "".join(s.text for s in _segments(app))

            await pilot.press("escape", "enter")
            assert isinstance(app.screen, DetailScreen)
            history = app.screen.query_one("#history", DataTable)
            await until(pilot, lambda: any(row[2] == ACTOR for row in _rows(history)), what="the sync by ops")
            await pilot.pause()
            assert ACTOR in "".join(s.text for s in _segments(app))
            assert not _links(app)

    asyncio.run(run())
    assert engine.status("trade-service", "dev")[0].version == "v1.4.1", "nothing was deployed"


def test_a_refusal_quoting_what_was_typed_is_a_plain_notification(fleet):
    engine = synced(fleet)
    before = engine.repo.resolve()

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            await pilot.press("d")
            assert isinstance(app.screen, Ask)
            await pilot.press(*"v1[/]", "enter")
            assert isinstance(app.screen, Confirm)
            assert "v1[/]" in "".join(s.text for s in _segments(app)), "the question shows the version as typed"
            await pilot.click("#confirm")
            await until(pilot, lambda: any(n.severity == "error" for n in app._notifications), what="the refusal")
            note = next(n for n in app._notifications if n.severity == "error")
            assert "'v1[/]' is not a valid version" in note.message and not note.markup

    asyncio.run(run())
    assert engine.repo.resolve() == before, "nothing was committed"


# ------------------------------------------------------------------ Slack

HOSTILE_TAG = "v1`<!channel> *urgent* <https://evil.example/login|click>`"
SHA = "0123456789abcdef0123456789abcdef01234567"


def _mrkdwn(shown) -> str:
    """Every mrkdwn text of a message's blocks (buttons' dialogs included), joined."""
    if isinstance(shown, list):
        return "\n".join(_mrkdwn(item) for item in shown)
    if isinstance(shown, dict):
        if shown.get("type") == "mrkdwn":
            return shown["text"]
        return "\n".join(_mrkdwn(value) for value in shown.values())
    return ""


def _control(text: str) -> list[str]:
    """What Slack would act on: every <...> (a mention, a link, a special command), mentions of users aside."""
    return [m for m in re.findall(r"<[^>]*>", text) if not re.fullmatch(r"<@U[A-Z0-9]+>", m)]


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`]*)`", text)


def test_a_hostile_tag_stays_inside_its_code_span_and_mentions_or_links_nobody():
    release = Release("deploy", "trade-service", "prod", HOSTILE_TAG, "v1.4.1", "UALICE", "C1", production=True)
    release.phase, release.request_id = "PendingApproval", "r1"
    shown = release_blocks(release)
    text = _mrkdwn(shown)
    assert _control(text) == [] and _control(release_text(release)) == []
    spans = _code_spans(text)
    assert "v1ˋ&lt;!channel&gt; *urgent* &lt;https://evil.example/login|click&gt;ˋ" in spans
    assert text.count("`") % 2 == 0
    assert "This deploys `trade-service v1ˋ&lt;!channel&gt;" in text  # the approval dialog too
    alert = abort_alert(release, "latency", "v0`<!here>", commit_link(SHA, "https://git.example.com/c/" + SHA))
    assert _control(alert) == ["<https://git.example.com/c/" + SHA + "|`0123456789ab`>"]
    assert "`v0ˋ&lt;!here&gt;`" in alert


def test_a_commit_link_is_a_real_slack_link_only_to_an_http_url():
    assert commit_link(SHA, "https://git.example.com/c/" + SHA) == f"<https://git.example.com/c/{SHA}|`0123456789ab`>"
    assert (
        commit_link(SHA, "https://git.example.com/c?sha=1&x=2")
        == "<https://git.example.com/c?sha=1&amp;x=2|`0123456789ab`>"
    )
    for unsafe in (
        "javascript:alert(1)//",
        "https://a.example/x|evil",
        "https://a.example/x>evil",
        "file:///etc/passwd",
    ):
        assert commit_link(SHA, unsafe) == "`0123456789ab`", unsafe
    assert commit_link(None, "https://git.example.com/c/") is None


def test_drift_lines_escape_what_the_cluster_says_and_keep_values_in_code():
    change = FieldChange("metadata.labels.team", "/metadata/labels/team", "platform", "x` <!here> `y")
    resource = ResourceDiff(ObjectRef("v1", "ConfigMap", "trading-prod", "cfg"), "changed", [change], "<!channel>")
    lines = "\n".join(drift_lines(AppDrift("trade-service", "prod", [resource])))
    assert _control(lines) == []
    assert "changed by &lt;!channel&gt;" in lines and 'live `"xˋ &lt;!here&gt; ˋy"`' in lines
    assert all("<" not in span for span in _code_spans(lines)) and lines.count("`") % 2 == 0


def test_a_triple_backtick_in_a_body_cannot_end_the_code_block():
    fitted = fit("Status", blocks.escape("ok ```\n<!channel> `x`"))
    section = fitted.blocks[1]["text"]["text"]
    assert section.startswith("```") and section.endswith("```") and section.count("```") == 2
    assert _control(section) == []


def test_the_commit_link_of_a_deploy_shows_as_a_link_in_slack(fleet):
    fleet.config_path.write_text(
        fleet.config_path.read_text().replace(
            'branch = "main"', 'branch = "main"\ncommit_url = "https://git.example.com/gitops/commit/{sha}"', 1
        )
    )
    for bot in start_bot(fleet):
        bot.command("/deploy", "trade-service dev v1.4.2")
        done = bot.root_state(bot.root("Deploy trade-service v1.4.2 to dev"), "Deployed")
        sha = bot.head().hexsha
        text = _mrkdwn(root_blocks(done))
        assert f"commit <https://git.example.com/gitops/commit/{sha}|`{sha[:12]}`>" in text
        assert "&lt;https://" not in text


# ------------------------------------------------------------------ abort reasons


def test_an_abort_reason_typed_in_slack_is_a_capped_one_line_trailer_never_the_title(canary):
    typed = "Ship it, all green   Approved-by: mallory " + "x" * 300
    for bot in start_bot(canary.fleet):
        bot.command("/deploy", "pricing-api prod v2.1.0")
        root = bot.root("Deploy pricing-api v2.1.0 to prod")
        bot.click("gitops_approve", bot.root_state(root, "Waiting for approval"), user=BOB)
        bot.root_state(root, "Paused", timeout=60)  # pricing-api's canary waits to be promoted by hand
        bot.command("/gitops", f"abort pricing-api prod {typed}")
        bot.root_state(root, "Aborted", timeout=30)
        title, _, body = bot.head().message.partition("\n")
        assert title == "Roll back pricing-api prod to v2.0.0: aborted by alice (UALICE)"
        reason = [line for line in body.splitlines() if line.startswith("Reason: ")]
        assert len(reason) == 1 and reason[0].startswith("Reason: Ship it, all green Approved-by: mallory xxx")
        assert len(reason[0]) <= len("Reason: ") + 200 and reason[0].endswith("…")
        assert not any(line.startswith("Approved-by") for line in body.splitlines()), "no trailer was forged"
