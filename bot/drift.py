"""Drift reports in Slack: one message per incident in the environment's channel, details in its thread.

The engine's DriftReports decides when to report (see gitopsctl/drift_reports.py);
this module only renders and sends. The message carries Sync now (the same
permission check as `/gitops sync`), Keep in Git (the live values committed to Git:
`gitopsctl adopt`) and Snooze; it is updated in place
when the drift changes or is resolved.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from gitopsctl.engine import MISSING, Actor, AppDrift, Incident, Rollout, describe

from . import blocks
from .blocks import Release
from .delivery import TRANSIENT, Undelivered
from .releases import Outbox

if TYPE_CHECKING:
    from gitopsctl.config import Config
    from gitopsctl.engine import IncidentMode, Moment, Outcome, Request, SyncResult

    from .changes import ChangeReports

log = logging.getLogger(__name__)
SYNC, ADOPT, SNOOZE = "gitops_drift_sync", "gitops_drift_adopt", "gitops_drift_snooze"
SNOOZE_CHOICES = (("1 hour", 3600), ("4 hours", 4 * 3600), ("1 day", 86400), ("1 week", 7 * 86400))
SHOWN_OBJECTS = 8
TIMELINE_CHUNK = 40  # lines of an incident's timeline per message (Slack takes 40,000 characters)
_ENDING = " It ends by itself when its time is up, or with `/gitops incident end ENV`."


def _value(value) -> str:
    if value is MISSING or value is None:
        return "absent"
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def drift_lines(drift: AppDrift) -> list[str]:
    """Which objects, which fields (Git vs live), and who changed them where known; mrkdwn, escaped here."""
    code = blocks.code
    lines = []
    for resource in drift.resources[:SHOWN_OBJECTS]:
        ref = resource.ref
        who = f" by {blocks.escape(resource.changed_by)}" if resource.changed_by else ""
        what = {"missing": "missing from the cluster", "extra": "no longer in Git"}.get(resource.state, f"changed{who}")
        where = f"{ref.namespace}/" if ref.namespace else ""
        lines.append(f"• {code(f'{ref.kind} {where}{ref.name}')} {what}")
        for change in resource.fields[:4]:
            lines.append(
                f"    {code(change.path)}: Git {code(_value(change.desired))}, live {code(_value(change.live))}"
            )
        if len(resource.fields) > 4:
            lines.append(f"    and {len(resource.fields) - 4} more fields")
    if len(drift.resources) > SHOWN_OBJECTS:
        lines.append(f"and {len(drift.resources) - SHOWN_OBJECTS} more objects (in the thread)")
    return lines


def report_blocks(
    incident: Incident, headline: str, lines: list[str], *, actions: bool, production: bool
) -> list[dict]:
    value = json.dumps({"app": incident.app, "env": incident.env}, separators=(",", ":"))
    out = blocks.message_blocks(blocks.escape(headline) + ("\n" + "\n".join(lines) if lines else ""))[:3]
    if actions:
        sync: dict = {
            "type": "button",
            "action_id": SYNC,
            "text": {"type": "plain_text", "text": "Sync now"},
            "style": "primary",
            "value": value,
        }
        if production:
            sync["confirm"] = blocks.confirm(
                f"Sync {incident.app} in {incident.env}?",
                "Live changes that Git does not have will be overwritten.",
                "Sync",
            )
        keep = {
            "type": "button",
            "action_id": ADOPT,
            "text": {"type": "plain_text", "text": "Keep in Git"},
            "value": value,
            "confirm": blocks.confirm(
                f"Keep the live values of {incident.app} in {incident.env}?",
                f"The drifted fields are written into Git as they are live now, one commit through "
                f"{incident.env}'s approvals and freezes. A Secret or a value other environments share is refused.",
                "Keep in Git",
            ),
        }
        snooze = {
            "type": "static_select",
            "action_id": SNOOZE,
            "placeholder": {"type": "plain_text", "text": "Snooze reminders"},
            "options": [
                {
                    "text": {"type": "plain_text", "text": label},
                    "value": json.dumps([incident.app, incident.env, seconds]),
                }
                for label, seconds in SNOOZE_CHOICES
            ],
        }
        out.append({"type": "actions", "block_id": "drift", "elements": [sync, keep, snooze]})
    return out


class SlackNotifier:
    """serve's notifier for Slack: drift reports, requests that ended, and the Git changes the leader acted on."""

    def __init__(self, config: Config, outbox: Outbox, changes: ChangeReports) -> None:
        self.config = config
        self.outbox = outbox
        self.changes = changes

    def change_followed(self, outcome: Outcome) -> None:
        self.changes.followed(outcome)

    def rollout_shown(self, rollout: Rollout) -> set[str]:
        return self.changes.tracker.shown(rollout)

    def request_ended(self, request: Request) -> bool:
        """Every message that showed the request now says how it ended, without buttons; True when all are done."""
        requester = Actor.parse(request.requester)
        asked = requester.id if requester.source == "slack" and not request.revision else request.requester
        done = True
        for where in request.messages:
            release = Release(
                "change" if request.revision else "deploy",
                request.app,
                request.env,
                request.version,
                request.previous,
                asked,
                where["channel"],
                ts=where["ts"],
                phase=request.state,
                decided=blocks.escape(request.ended[:1].upper() + request.ended[1:]),
                revision=request.revision,
                title=request.change,
                author=request.requester if request.revision else "",
                asked_in_slack=not request.revision,
            )
            try:
                self.outbox.rewrite(release)
            except Undelivered as e:  # refused for good (counted): done; a transient failure: the next pass tries
                done = done and e.error not in TRANSIENT
        return done

    def _production(self, env: str) -> bool:
        chain = self.config.promotion_chain
        return bool(chain) and chain[-1] == env

    def _post(self, channel: str, text: str, **kwargs) -> dict | None:
        return self.outbox.send("chat_postMessage", channel=channel, text=text, unfurl_links=False, **kwargs)

    def _details(self, channel: str, ts: str, drift: AppDrift) -> None:
        body = "\n".join(describe(r) for r in drift.resources)
        fitted = blocks.fit(f"What differs in {drift.app} ({drift.env})", blocks.escape(body))
        self._post(channel, fitted.text, thread_ts=ts, blocks=fitted.blocks)
        if fitted.snippet is not None:
            self.outbox.send(
                "files_upload_v2",
                channel=channel,
                thread_ts=ts,
                content=body,
                filename=f"drift-{drift.app}-{drift.env}.txt",
            )

    def drift_opened(self, incident: Incident, drift: AppDrift, healed: SyncResult | None) -> dict[str, str]:
        channel = self.config.channel_for(incident.app, incident.env)
        if channel is None:
            log.warning("drift in %s (%s) but no slack_channel for %s", incident.app, incident.env, incident.env)
            return {}
        count = f"{len(drift.resources)} object{'s' if len(drift.resources) != 1 else ''}"
        if healed is not None:
            headline = (
                f":adhesive_bandage: *Drift in {incident.app} ({incident.env}) was healed*: {count} changed by hand "
                f"were synced back to Git ({healed.revision[:12]}, {len(healed.applied)} applied, health {healed.health})"
            )
        else:
            headline = f":warning: *Drift in {incident.app} ({incident.env})*: {count} differ from Git"
        posted = self._post(
            channel,
            headline.replace("*", ""),
            blocks=report_blocks(
                incident,
                headline,
                drift_lines(drift),
                actions=healed is None,
                production=self._production(incident.env),
            ),
        )
        if posted is None:
            return {}
        return {"channel": posted["channel"], "ts": posted["ts"]}

    def drift_details(self, incident: Incident, drift: AppDrift) -> None:
        channel, ts = incident.ref.get("channel"), incident.ref.get("ts")
        if channel and ts:
            self._details(channel, ts, drift)

    def drift_changed(self, incident: Incident, drift: AppDrift, *, reminder: bool) -> None:
        channel, ts = incident.ref.get("channel"), incident.ref.get("ts")
        if not channel or not ts:
            return
        if reminder:
            since = datetime.fromisoformat(incident.opened_at)
            self._post(
                channel,
                f":bell: Drift in {incident.app} ({incident.env}) is still unresolved after {incident.scans} scans "
                f"(since {since:%Y-%m-%d %H:%M} UTC).",
                thread_ts=ts,
                reply_broadcast=True,
            )
            return
        headline = (
            f":warning: *Drift in {incident.app} ({incident.env})* changed: {len(drift.resources)} objects differ"
        )
        self._update(
            channel,
            ts,
            headline,
            report_blocks(
                incident, headline, drift_lines(drift), actions=True, production=self._production(incident.env)
            ),
        )
        self._details(channel, ts, drift)

    def drift_resolved(self, incident: Incident, how: str) -> None:
        channel, ts = incident.ref.get("channel"), incident.ref.get("ts")
        if not channel or not ts:
            return
        headline = f":white_check_mark: *Drift in {incident.app} ({incident.env}) is resolved*: {how}"
        self._update(channel, ts, headline, report_blocks(incident, headline, [], actions=False, production=False))
        self._post(channel, f"Resolved: {how}.", thread_ts=ts)

    def _update(self, channel: str, ts: str, headline: str, shown: list[dict]) -> None:
        self.outbox.send("chat_update", channel=channel, ts=ts, text=headline.replace("*", ""), blocks=shown)

    def incident_reminder(self, mode: IncidentMode) -> None:
        channel = self.config.channel_for(None, mode.env)
        if channel is not None:
            self._post(channel, blocks.escape(f":rotating_light: {mode.env} is still in {mode.shown}.") + _ENDING)

    def incident_ended(self, mode: IncidentMode, timeline: list[Moment]) -> None:
        """The end in the environment's channel, its timeline in the thread (a message per TIMELINE_CHUNK)."""
        channel = self.config.channel_for(None, mode.env)
        if channel is None:
            log.warning("incident mode for %s in %s ended, but %s has no slack_channel", mode.id, mode.env, mode.env)
            return
        head = self._post(
            channel,
            blocks.escape(
                f":white_check_mark: Incident mode for {mode.id} in {mode.env} ended ({mode.ended_by}): "
                f"{len(timeline)} action(s) in its timeline, in the thread."
            ),
        )
        lines = [
            blocks.escape(f"{m.at:%H:%M:%S} {m.who}: {m.what}") + (f" {blocks.code(m.commit[:12])}" if m.commit else "")
            for m in timeline
        ]
        for start in range(0, len(lines), TIMELINE_CHUNK):
            self._post(channel, "\n".join(lines[start : start + TIMELINE_CHUNK]), thread_ts=(head or {}).get("ts"))

    def summary(self, env: str, lines: list[str]) -> None:
        channel = self.config.channel_for(None, env)
        if channel is not None:
            text = f"*Daily summary of {env}*\n" + "\n".join(f"• {line}" for line in lines)
            self._post(channel, f"Summary of {env}", blocks=blocks.message_blocks(blocks.escape(text)))
