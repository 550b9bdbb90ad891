"""Incident mode from Slack: started by an approver, the named responder deploys at once, and when its time is up
the leader posts the end and the timeline to the environment's channel."""

from __future__ import annotations

from datetime import timedelta

import git

from gitopsctl.release import incident_mode
from tests.bot.conftest import ALICE, BOB, CAROL
from tests.conftest import wait_for


def test_an_incident_started_in_slack_reminds_ends_by_itself_and_posts_its_timeline(served, monkeypatch):
    served.command("/gitops", "incident start staging INC-9 1h <@UCAROL|carol>", user=CAROL)
    served.ephemeral("you are not an approver in staging")
    served.command("/gitops", "incident start staging INC-9 3s <@UALICE|alice>", user=BOB)
    started = served.ephemeral("staging is in incident mode for INC-9")
    assert started.params["response_type"] == "in_channel" and "<@UALICE> deploy" in started.params["text"]

    monkeypatch.setattr(incident_mode, "REMIND_EVERY", timedelta(0))  # due now: what 30 minutes make due
    served.serve.scheduler.incidents()
    reminder = served.slack.wait("chat.postMessage", lambda c: "staging is still in incident INC-9" in c.params["text"])
    assert reminder.params["channel"] == "#staging"
    monkeypatch.setattr(incident_mode, "REMIND_EVERY", timedelta(minutes=30))
    served.serve.scheduler.incidents()  # reminded a moment ago: not again
    served.command("/deploy", "trade-service staging v1.4.2", user=ALICE)
    repo = git.Repo(served.fleet.repo.url)
    wait_for(lambda: "Incident: INC-9" in repo.commit("main").message, 30, 0.2, "the responder's deploy commit")
    assert "Deployed-by: alice (UALICE)" in repo.commit("main").message

    environment = served.fleet.engine.config.environments["staging"]
    wait_for(lambda: served.serve.engine.incidents.active(environment) is None, 15, 0.2, "the incident's time up")
    served.serve.scheduler.incidents()  # what the leader's expiry job runs every 30 s
    ended = served.slack.wait(
        "chat.postMessage",
        lambda c: (
            c.params.get("channel") == "#staging" and "Incident mode for INC-9 in staging ended" in c.params["text"]
        ),
    )
    assert "(its time ran out)" in ended.params["text"]
    timeline = served.slack.wait("chat.postMessage", lambda c: c.params.get("thread_ts") == ended.ts)
    lines = timeline.params["text"].splitlines()
    assert "started incident mode for INC-9" in lines[0] and "ended incident mode for INC-9" in lines[-1], lines
    assert any("alice (UALICE): commit: Deploy trade-service v1.4.2 to staging" in line for line in lines), lines
    reminders = [c for c in served.slack.of("chat.postMessage") if "still in incident" in str(c.params.get("text"))]
    assert len(reminders) == 1
    served.command("/gitops", "incident status staging", user=CAROL)
    served.ephemeral("staging: no incident")
