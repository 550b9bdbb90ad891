"""Git changes the leader acted on, in Slack: one message per change in the environment's channel.

A delivered change says which commit, who pushed it and what changed; a canary
of it is followed like a ``/deploy`` canary (its root message updated, progress
in its thread); one waiting for approval carries the Approve and Reject
buttons of a deploy request; a held or failed one says why, once (the engine
reports each outcome once). Commit titles and authors come from whoever can
push: they are escaped wherever they are shown.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gitopsctl.config import Config

from . import blocks
from .blocks import Release
from .releases import Outbox, Posted, Refused, Tracker

if TYPE_CHECKING:
    from gitopsctl.engine import Engine, Outcome

log = logging.getLogger(__name__)
SHOWN_OBJECTS = 5


def applied_text(result: Any) -> str:
    """What a direct sync changed, in words (plain text, to be escaped)."""
    names = ", ".join(f"{ref.kind}/{ref.name}" for ref in result.applied[:SHOWN_OBJECTS])
    more = f" and {len(result.applied) - SHOWN_OBJECTS} more" if len(result.applied) > SHOWN_OBJECTS else ""
    applied = f"{len(result.applied)} applied ({names}{more})" if result.applied else "0 applied"
    return f"{applied}, {result.unchanged} unchanged, {len(result.pruned)} pruned; health {result.health}"


def change_release(
    config: Config, result: Any, *, requester: str, channel: str, commits: list, slack_user: bool = False
) -> Release:
    """The release message of a Git change the engine delivered, started as a canary, or holds for approval.

    ``result`` is a SyncResult (a sync, or what following delivered) or a DeployResult (an automatic promotion).
    """
    app, env = result.app, result.env
    rollout, request = result.rollout, result.request
    revision = getattr(result, "commit", None) or getattr(result, "revision", "") or ""
    if request is not None and request.revision:
        revision = request.revision
    canary = config.apps[app].canary if app in config.apps else None
    steps = tuple(step.describe() for step in canary.steps) if canary else ()
    strategy = "canary" if config.environments[env].strategy == "canary" and steps else "direct"
    chain = config.promotion_chain
    release = Release(
        "change",
        app,
        env,
        result.version or "-",
        None,
        requester,
        channel,
        strategy=strategy,
        steps=steps if strategy == "canary" else (),
        production=bool(chain) and chain[-1] == env,
        revision=revision,
        title=commits[0].title if commits else (request.change if request is not None else ""),
        author=commits[0].author if commits else requester,
        asked_in_slack=slack_user,
    )
    if rollout is not None:
        release.previous, release.version = rollout.stable_version or None, rollout.canary_version or release.version
        release.phase, release.weight, release.step = rollout.phase, rollout.weight, rollout.step
        release.commit = rollout.deploy_commit
    elif request is not None:
        release.version, release.previous = request.version, request.previous
        release.phase, release.request_id = "PendingApproval", request.id
        release.message = blocks.escape(result.message)
    else:
        status = getattr(result, "result", None) or getattr(result, "status", "")
        release.phase = "Delivered" if status in ("Succeeded", "Deployed") else status or "Failed"
        sync = result if hasattr(result, "applied") else getattr(result, "sync", None)
        what = applied_text(sync) if sync is not None else ""
        release.message = blocks.escape("; ".join(part for part in (what, result.message) if part))
    return release


class ChangeReports:
    """Posts what following Git did, through the outbox's rate limits, and follows canaries with the tracker."""

    def __init__(self, engine: Engine, outbox: Outbox, tracker: Tracker) -> None:
        self.engine = engine
        self.outbox = outbox
        self.tracker = tracker

    def followed(self, outcome: Outcome) -> None:
        channel = self.engine.config.channel_for(outcome.app, outcome.env)
        if channel is None:
            log.warning(
                "%s in %s: %s, but no slack_channel for %s", outcome.app, outcome.env, outcome.state, outcome.env
            )
            return
        if outcome.result is None:  # held or failed before anything was delivered: why, once
            self._say(channel, outcome)
            return
        commits = list(outcome.commits)
        requester = commits[0].author if commits else "gitopsctl"
        release = change_release(
            self.engine.config, outcome.result, requester=requester, channel=channel, commits=commits
        )
        self.post(release)

    def post(self, release: Release, *, posted: Posted | None = None, refused: Refused | None = None) -> None:
        """Queue the release's root message; follow its canary, or keep its request's message to update."""
        self.outbox.open(release, posted=posted, refused=refused)
        if release.commit and release.phase not in ("Promoted", "Aborted", "Failed"):
            self.tracker.follow_rollout(release)
        elif release.request_id:  # its buttons go when the request ends, whoever ends it
            self.outbox.when_posted(release, self.note_request)

    def note_request(self, release: Release) -> None:
        """Remember where a request's message is, so its buttons go when the request ends, whoever ends it."""
        assert release.request_id and release.ts
        if not self.engine.note_request_message(
            release.app, release.env, release.request_id, release.channel, release.ts
        ):
            log.warning(
                "the request %s for %s in %s was replaced or ended long before its message %s/%s was posted; "
                "that message keeps its buttons (a click on them is refused)",
                release.request_id,
                release.app,
                release.env,
                release.channel,
                release.ts,
            )

    def _say(self, channel: str, outcome: Outcome) -> None:
        emoji = ":double_vertical_bar:" if outcome.state == "Held" else ":x:"
        state = "held" if outcome.state == "Held" else "not delivered"
        commits = list(outcome.commits)
        head = f"{emoji} *{blocks.escape(outcome.app)}* is {state} in *{blocks.escape(outcome.env)}*"
        lines = [f"{head}: {blocks.escape(outcome.message)}"]
        if commits:
            lines.append(blocks.change_line(commits[0].sha, commits[0].title, commits[0].author))
            if len(commits) > 1:
                lines.append(f"and {len(commits) - 1} earlier commits not delivered yet")
        text = f"{outcome.app} is {state} in {outcome.env}"
        self.outbox.send(
            "chat_postMessage",
            channel=channel,
            text=blocks.escape(text),
            blocks=blocks.message_blocks("\n".join(lines)),
            unfurl_links=False,
        )
