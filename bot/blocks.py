"""Block Kit for every message the bot sends: pure functions from data to blocks.

Every Block Kit limit Slack documents for the elements used here is kept here
(50 blocks a message, 3,000 characters a section or context text, a button's
value 2,000, a confirmation's title 100 and text 300, an option's value 150):
text is clipped with "…", and output that would not fit is summarised while
the full text goes to a snippet. Slack refuses a whole message over any limit.
Text from Git and from people (tags, titles, reasons) is escaped here too, inside
code formatting as well, so it can neither mention, link nor break out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_BLOCKS = 50
MAX_SECTION = 3000
APPROVE, REJECT = "gitops_approve", "gitops_reject"

PHASE_EMOJI = {
    "Planned": ":memo:",
    "PendingApproval": ":hourglass_flowing_sand:",
    "Syncing": ":arrows_counterclockwise:",
    "Progressing": ":arrows_counterclockwise:",
    "Pending": ":hourglass_flowing_sand:",
    "Paused": ":double_vertical_bar:",
    "Promoted": ":white_check_mark:",
    "Deployed": ":white_check_mark:",
    "Delivered": ":white_check_mark:",
    "Unchanged": ":white_check_mark:",
    "Aborted": ":rotating_light:",
    "Failed": ":x:",
    "Rejected": ":no_entry:",
    "Withdrawn": ":no_entry:",
    "Expired": ":hourglass:",
    "Approved": ":white_check_mark:",
}
PHASE_TEXT = {"PendingApproval": "Waiting for approval", "Pending": "Running the pre-rollout steps"}
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
SHOWN_GIT_TEXT = 150  # a commit's title or author in a button's value (Slack allows 2,000 characters)
MAX_VALUE = 2000  # a button's value
MAX_CONTEXT = 3000  # a context element's text
MAX_CONFIRM_TITLE, MAX_CONFIRM_TEXT = 100, 300


@dataclass
class Release:
    """One deploy, rollback or delivered Git change as the channel sees it: the root message and what it shows now."""

    kind: str  # deploy | rollback | change (a commit pushed to Git, delivered through the gates)
    app: str
    env: str
    version: str
    previous: str | None
    requester: str  # a Slack user ID; for a change, who asked as Git or the engine names them (shown as text)
    channel: str
    strategy: str = "direct"
    steps: tuple[str, ...] = ()
    production: bool = False
    ts: str | None = None
    phase: str = "Planned"
    weight: int = 0
    step: int = 0
    message: str = ""
    request_id: str | None = None
    approvers: str = ""
    decided: str = ""  # "Approved by <@U..>" / "Rejected by <@U..>"
    commit: str | None = None
    seen_events: set[str] = field(default_factory=set)
    revision: str = ""  # a change: the commit delivered
    title: str = ""  # a change: that commit's title, as Git has it (hostile: escaped when shown)
    author: str = ""  # a change: who pushed it, as Git has it (hostile: escaped when shown)
    asked_in_slack: bool = True  # the requester is the Slack user who asked (a change may come from Git)

    @property
    def finished(self) -> bool:
        return self.phase in (
            "Promoted",
            "Deployed",
            "Delivered",
            "Unchanged",
            "Aborted",
            "Failed",
            "Rejected",
            "Withdrawn",
            "Expired",
            "Approved",
        )

    def button_value(self) -> str:
        """Enough to act on a click in any replica, even after a restart, in Slack's 2,000 characters: the
        canary's steps are read from the configuration on the click; Git's free text is clipped to fit."""
        value = {
            "app": self.app,
            "env": self.env,
            "version": self.version,
            "previous": self.previous,
            "request": self.request_id,
            "requester": self.requester,
            "strategy": self.strategy,
        }
        if self.kind != "change":
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        shown = SHOWN_GIT_TEXT
        while True:  # names and versions are bounded; a title or author of any length is clipped until it fits
            value |= {
                "kind": self.kind,
                "revision": self.revision,
                "title": _clip(self.title, shown),
                "author": _clip(self.author, shown),
                "requester": _clip(self.requester, shown),
                "slack": self.asked_in_slack,
            }
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            if len(text) <= MAX_VALUE or shown <= 1:
                return text
            shown //= 2


def asked_by(release: Release) -> str:
    """Who asked, as mrkdwn: a mention only for a Slack user ID that asked from Slack; any other name (a Git
    author, a ``Deployed-by`` trailer anyone can write, a cluster user) is escaped text and mentions nobody."""
    if release.asked_in_slack and SLACK_USER.match(release.requester):
        return f"<@{release.requester}>"
    return escape(_clip(release.requester, 200))


def progress_bar(percent: int, width: int = 10) -> str:
    percent = max(0, min(100, percent))
    filled = round(percent * width / 100)
    return "▰" * filled + "▱" * (width - filled) + f" {percent}%"


def _phase_line(release: Release) -> str:
    emoji = PHASE_EMOJI.get(release.phase, ":grey_question:")
    text = PHASE_TEXT.get(release.phase, release.phase)
    line = f"{emoji} *{text}*"
    if release.strategy == "canary" and release.phase in ("Progressing", "Paused", "Promoted", "Aborted"):
        step = min(release.step + 1, len(release.steps)) if release.steps else 0
        line += f"   {progress_bar(release.weight)} on the canary"
        if release.steps and release.phase in ("Progressing", "Paused"):
            line += f", step {step}/{len(release.steps)}"
    if release.message:
        line += f"\n{_clip(release.message, 1000)}"
    return line


def _verb(release: Release) -> str:
    return {"rollback": "Roll back", "change": "Deliver"}.get(release.kind, "Deploy")


def release_blocks(release: Release) -> list[dict]:
    """The root message of a deploy: the plan, the phase, and buttons while it waits for approval."""
    change = f"{code(release.previous or 'nothing')} → {code(release.version)}"
    if release.kind == "change" and release.previous is None:  # a direct delivery: the version it runs now
        change = code(release.version)
    strategy = "canary: " + " → ".join(release.steps) if release.strategy == "canary" else "direct sync"
    what = f"{escape(release.app)} {code(release.revision[:12])}" if release.kind == "change" else escape(release.app)
    blocks: list[dict] = [_section(f"*{_verb(release)} {what} to {escape(release.env)}*   {change}")]
    if release.kind == "change":
        blocks.append(_section(change_line(release.revision, release.title, release.author)))
    blocks += [
        {
            "type": "context",
            "elements": [
                _mrkdwn(
                    _clip(f"Strategy: {escape(_clip(strategy, 1500))}   ·   asked by {asked_by(release)}", MAX_CONTEXT)
                )
            ],
        },
        _section(_phase_line(release)),
    ]
    if release.decided:
        blocks.append({"type": "context", "elements": [_mrkdwn(_clip(release.decided, MAX_CONTEXT))]})
    if release.phase == "PendingApproval" and release.request_id:
        blocks.append(_approval_actions(release))
    return blocks


def change_line(sha: str, title: str, author: str) -> str:
    """A Git commit as mrkdwn: its short sha, its title and its author, both escaped (anyone who pushes wrote them)."""
    return f"Commit {code(sha[:12])} {escape(_clip(' '.join(title.split()), 300))} by {escape(_clip(author, 200))}"


def release_text(release: Release) -> str:
    """The notification text (what a phone shows) for the root message."""
    what = f"{release.revision[:12]} ({release.version})" if release.kind == "change" else release.version
    return escape(
        f"{_verb(release)} {release.app} {what} to {release.env}: {PHASE_TEXT.get(release.phase, release.phase)}"
    )


def _approval_actions(release: Release) -> dict:
    approve: dict = {
        "type": "button",
        "action_id": APPROVE,
        "text": {"type": "plain_text", "text": "Approve"},
        "style": "primary",
        "value": release.button_value(),
    }
    if release.production:
        what = (
            f"This {'delivers' if release.kind == 'change' else 'deploys'} "
            f"{code(f'{release.app} {release.revision[:12] or release.version}')} to *{escape(release.env)}*"
        )
        asked = f"{what} (asked by {asked_by(release)})."
        approve["confirm"] = confirm(
            f"Deploy to {release.env}?", asked if len(asked) <= MAX_CONFIRM_TEXT else f"{what}.", "Approve"
        )
    reject = {
        "type": "button",
        "action_id": REJECT,
        "text": {"type": "plain_text", "text": "Reject"},
        "style": "danger",
        "value": release.button_value(),
    }
    return {"type": "actions", "block_id": "approval", "elements": [approve, reject]}


def confirm(title: str, text: str, yes: str) -> dict:
    """A confirmation dialog (danger style) within Slack's limits: title 100, text 300, buttons 30 characters."""
    return {
        "title": {"type": "plain_text", "text": _clip(title, MAX_CONFIRM_TITLE)},
        "text": _mrkdwn(_clip(text, MAX_CONFIRM_TEXT)),
        "confirm": {"type": "plain_text", "text": _clip(yes, 30)},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": "danger",
    }


def abort_alert(release: Release, reason: str, stable: str, revert_link: str | None) -> str:
    """``reason`` is mrkdwn already escaped; ``revert_link`` comes from ``commit_link``."""
    where = f" Reverted in Git by {revert_link}." if revert_link else ""
    return (
        f":rotating_light: *{escape(release.app)}* {code(release.version)} *was rolled back in {escape(release.env)}*: "
        f"{reason}. All traffic is back on {code(stable)}.{where}"
    )


def commit_link(sha: str | None, url: str | None) -> str | None:
    """A real Slack link ``<url|label>`` to a commit (mrkdwn, not to be escaped again); only http(s) URLs link."""
    if not sha:
        return None
    label = code(sha[:12])
    return f"<{_link_target(url)}|{label}>" if url and _linkable(url) else label


def _linkable(url: str) -> bool:
    """An http(s) URL with a host, nothing in it that ends a Slack link (``|``, ``>``) or starts another."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not _UNLINKABLE.search(url)


def _link_target(url: str) -> str:
    return url.replace("&", "&amp;")  # Slack's control characters, escaped in a link's URL too


_UNLINKABLE = re.compile(r"[\s<>|`\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Fitted:
    """Blocks that fit one message, and the full text as a snippet when they could not hold it."""

    blocks: list[dict]
    text: str
    snippet: str | None = None


def fit(title: str, body: str, summary: str = "", where: str = "the snippet in the thread") -> Fitted:
    """A title and a preformatted body; too long for one section, the summary stands in and a snippet carries it
    (``where`` says where the reader finds the snippet)."""
    block = f"```{body.replace('`', _BACKTICK)}```" if body else ""  # a ``` in the body cannot end the block
    if len(block) <= MAX_SECTION - 10:
        blocks = [_section(f"*{title}*")] + ([_section(block)] if block else [])
        return Fitted(blocks, title)
    lines = body.count("\n") + 1
    note = summary or f"{lines} lines"
    blocks = [_section(f"*{title}*"), _section(_clip(f"{note}. The full text is in {where}.", 2900))]
    return Fitted(blocks, title, snippet=body)


def message_blocks(text: str) -> list[dict]:
    """Free text split into sections of at most 3,000 characters, at most 50 of them (none for no text:
    Slack refuses an empty section; the message's ``text`` shows instead)."""
    chunks = [text[i : i + MAX_SECTION - 100] for i in range(0, len(text), MAX_SECTION - 100)]
    return [_section(c) for c in chunks[:MAX_BLOCKS] if c.strip()]


def help_blocks(usage: dict[str, str]) -> list[dict]:
    lines = "\n".join(f"`{line}`" for line in usage.values())
    return [_section("*gitopsctl from Slack*"), _section(lines)]


def _section(text: str) -> dict:
    return {"type": "section", "text": _mrkdwn(_clip(text, MAX_SECTION))}


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """User text shown in mrkdwn: no mentions, links or formatting smuggled in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_BACKTICK = "\u02cb"  # ˋ (modifier letter grave accent): looks like a backtick, cannot end code formatting


def code(text: str) -> str:
    """``text`` as inline code: escaped, on one line, and with no backtick that could end the code span."""
    return f"`{escape(' '.join(text.split()).replace('`', _BACKTICK)) or ' '}`"
