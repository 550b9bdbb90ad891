"""The rollout's decisions as tables of plain values (as Argo Rollouts' canary_test.go): no sandbox, no clock.

One row per case: the record (phase, step, weight, measurements, requests by
hand), what was observed, and the one action ``next_action`` must return.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gitopsctl.analysis.judge import FAIL, MARGINAL, NODATA, PASS
from gitopsctl.analysis.measurement import ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL, Measurement
from gitopsctl.config import AnalysisTemplate, Step
from gitopsctl.rollout import record
from gitopsctl.rollout.decide import (
    JUDGE,
    Abort,
    Advance,
    Done,
    Judge,
    Measure,
    Note,
    Observed,
    Pause,
    Promote,
    SetWeight,
    Wait,
    judged,
    judgement_phase,
    next_action,
    skips_step,
)
from gitopsctl.rollout.record import ABORTED, PAUSED, PENDING, PROGRESSING, PROMOTED, Rollout

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
STEPS = (
    Step(set_weight=20),  # 0
    Step(pause=30),  # 1
    Step(pause_indefinitely=True),  # 2
    Step(analysis="success-rate"),  # 3
    Step(judge=("p99", "errors")),  # 4
    Step(set_weight=50),  # 5
    Step(analysis="latency"),  # 6
)
TEMPLATES = {
    "success-rate": AnalysisTemplate(
        "success-rate", "prometheus", "q", interval=10, count=3, consecutive_error_limit=2
    ),
    "latency": AnalysisTemplate(
        "latency", "prometheus", "q", interval=10, count=3, failure_limit=1, inconclusive_limit=1
    ),
    "p99": AnalysisTemplate("p99", "prometheus", "q", interval=20, judge="increase", inconclusive_limit=2),
    "errors": AnalysisTemplate("errors", "prometheus", "q", interval=10, judge="increase"),
    "errors-bg": AnalysisTemplate("errors-bg", "prometheus", "q", interval=10, consecutive_error_limit=1),
}
HEALTHY = Observed(canary_health="Healthy")
VERIFIED = Observed(canary_health="Healthy", weight_verified=True)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def m(metric: str, phase: str, seconds_ago: float, value: float | None = 0.5, message: str = "") -> Measurement:
    return Measurement(metric, phase, value, ago(seconds_ago), message)


def rec(phase: str = PROGRESSING, *, started: float | None = 60, **fields) -> Rollout:
    """A record whose current step started ``started`` seconds ago (None: no stamp)."""
    return Rollout(
        "shop",
        "prod",
        phase,
        "1.0",
        "1.1",
        "abc123",
        "ana",
        ago(600),
        step_started_at=None if started is None else ago(started),
        **fields,
    )


def bad(metric: str, seconds_ago: float) -> Measurement:
    return m(metric, FAILED, seconds_ago, 0.91, "0.91 < 0.99")


S1, S2, S3 = (m("success-rate", SUCCESSFUL, s, 0.995) for s in (45, 35, 25))

ROWS = [
    # phases: only Pending, Progressing and Paused are acted on
    pytest.param(rec(PROMOTED, step=7, weight=100), HEALTHY, (), Done(), id="promoted-is-done"),
    pytest.param(rec(ABORTED), HEALTHY, (), Done(), id="aborted-is-done"),
    pytest.param(rec(record.FAILED), HEALTHY, (), Done(), id="failed-is-done"),
    pytest.param(rec(ABORTED), Observed(canary_health="Degraded"), (), Done(), id="ended-never-aborts-again"),
    pytest.param(rec(PENDING), Observed(), (), Wait("running the pre-rollout steps"), id="pending-runs-its-steps"),
    pytest.param(
        replace(rec(PENDING), started_at=ago(31 * 60)),
        Observed(),
        ("errors-bg",),
        Abort("its pre-rollout steps did not finish within 30 minutes (the process running them stopped?)"),
        id="pending-abandoned",
    ),
    # the canary's health and the stable Deployment abort whatever the step
    pytest.param(
        rec(weight=20),
        Observed(canary_health="Degraded", canary_message="progress deadline exceeded"),
        (),
        Abort("canary is Degraded: progress deadline exceeded"),
        id="degraded-canary-aborts",
    ),
    pytest.param(
        rec(weight=20),
        Observed(canary_health="Progressing", canary_crashlooping=True),
        (),
        Abort("canary pods are crash-looping"),
        id="crashlooping-canary-aborts",
    ),
    pytest.param(
        rec(),
        Observed(canary_health=None, canary_crashlooping=True),
        (),
        SetWeight(20),
        id="no-canary-no-crashloop-abort",
    ),
    pytest.param(
        rec(weight=20),
        Observed(canary_health="Degraded", canary_message="x", stable_present=False),
        (),
        Abort("canary is Degraded: x"),
        id="degraded-before-stable-gone",
    ),
    pytest.param(
        rec(weight=20),
        Observed(canary_health="Healthy", stable_present=False),
        (),
        Abort("the stable Deployment is gone"),
        id="stable-gone-aborts",
    ),
    pytest.param(
        rec(PAUSED, paused_by_hand=True, weight=20),
        Observed(canary_health="Healthy", canary_crashlooping=True),
        (),
        Abort("canary pods are crash-looping"),
        id="crashloop-aborts-while-paused-by-hand",
    ),
    pytest.param(
        rec(weight=20, aborting="aborted by dave", abort_reason="latency", abort_actor="dave"),
        Observed(canary_health=None),
        (),
        Abort("aborted by dave"),
        id="an-abort-begun-and-killed-is-finished-as-it-began",
    ),
    pytest.param(
        rec(PAUSED, step=1, weight=20),
        Observed(canary_health=None),
        (),
        Abort("the canary Deployment is gone"),
        id="canary-gone-with-traffic-aborts",
    ),
    pytest.param(rec(), Observed(canary_health=None), (), SetWeight(20), id="canary-not-created-yet-at-0-goes-on"),
    pytest.param(
        rec(step=7, weight=100),
        Observed(canary_health=None),
        (),
        Promote(),
        id="canary-gone-after-the-last-step-is-a-promotion-being-finished",
    ),
    # set_weight: move traffic, then wait until it really moved
    pytest.param(rec(), HEALTHY, (), SetWeight(20), id="weight-set"),
    pytest.param(rec(weight=20), HEALTHY, (), SetWeight(20), id="weight-not-verified-sets-it-again"),
    pytest.param(rec(weight=20), VERIFIED, (), Advance("20% of traffic on the canary"), id="weight-verified-advances"),
    pytest.param(rec(step=5, weight=20), VERIFIED, (), SetWeight(50), id="next-weight-set-even-if-old-verified"),
    # pause with a duration
    pytest.param(
        rec(step=1, weight=20, started=10),
        HEALTHY,
        (),
        Wait("pause of 30s", NOW + timedelta(seconds=20)),
        id="timed-pause-waits",
    ),
    pytest.param(rec(step=1, weight=20, started=30), HEALTHY, (), Advance("pause of 30s done"), id="timed-pause-ends"),
    pytest.param(rec(step=1, weight=20, started=90), HEALTHY, (), Advance("pause of 30s done"), id="timed-pause-late"),
    pytest.param(
        rec(step=1, weight=20, started=None),
        HEALTHY,
        (),
        Wait("pause of 30s", NOW + timedelta(seconds=30)),
        id="timed-pause-without-start-stamp-starts-now",
    ),
    # pause until promoted
    pytest.param(
        rec(step=2, weight=20),
        HEALTHY,
        (),
        Pause("paused until promoted by hand", "paused at step 3 until promoted"),
        id="indefinite-pause-pauses",
    ),
    pytest.param(
        rec(PAUSED, step=2, weight=20),
        HEALTHY,
        (),
        Wait("paused until promoted by hand"),
        id="indefinite-pause-holds",
    ),
    # requests by hand
    pytest.param(rec(PAUSED, paused_by_hand=True), HEALTHY, (), Wait("paused by hand"), id="paused-by-hand-holds"),
    pytest.param(
        rec(PAUSED, step=3, weight=20, paused_by_hand=True, measurements=[bad("success-rate", 5)]),
        HEALTHY,
        (),
        Wait("paused by hand"),
        id="paused-by-hand-holds-a-failing-analysis",
    ),
    pytest.param(rec(promote_full=True, weight=20), HEALTHY, (), Promote(), id="promote-full-promotes"),
    pytest.param(
        rec(PAUSED, step=2, promote_full=True, paused_by_hand=True),
        HEALTHY,
        (),
        Promote(),
        id="promote-full-beats-pause-by-hand",
    ),
    pytest.param(rec(step=len(STEPS), weight=50), HEALTHY, (), Promote(), id="end-of-steps-promotes"),
    pytest.param(
        rec(PAUSED, step=len(STEPS), weight=50, paused_by_hand=True),
        HEALTHY,
        (),
        Promote(),
        id="end-of-steps-promotes-even-paused",
    ),
    # analysis: measure on an interval until the count; limits decide
    pytest.param(rec(step=3, weight=20), HEALTHY, (), Measure("success-rate"), id="analysis-first-measurement"),
    pytest.param(
        rec(step=3, weight=20, measurements=[m("success-rate", SUCCESSFUL, 5)]),
        HEALTHY,
        (),
        Wait("next measurement of success-rate", NOW + timedelta(seconds=5)),
        id="analysis-not-due",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[S1]),
        HEALTHY,
        (),
        Measure("success-rate", (S1,)),
        id="analysis-due-sees-previous",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[S1, S2, S3]),
        HEALTHY,
        (),
        Advance("analysis success-rate passed"),
        id="analysis-count-reached-passes",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[S1, bad("success-rate", 15)]),
        HEALTHY,
        (),
        Abort("success-rate 0.91 < 0.99 at 20% traffic"),
        id="analysis-failure-over-limit-aborts",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[m("success-rate", ERROR, s, None, "timeout") for s in (35, 25, 15)]),
        HEALTHY,
        (),
        Abort("success-rate could not be measured (timeout) at 20% traffic"),
        id="analysis-errors-over-limit-abort",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[m("success-rate", ERROR, s, None, "timeout") for s in (25, 15)]),
        HEALTHY,
        (),
        Measure("success-rate", tuple(m("success-rate", ERROR, s, None, "timeout") for s in (25, 15))),
        id="analysis-errors-within-limit-measure-again",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[m("success-rate", ERROR, 25, None, "x"), S3, S2]),
        HEALTHY,
        (),
        Measure("success-rate", (m("success-rate", ERROR, 25, None, "x"), S3, S2)),
        id="analysis-errors-never-count-as-success",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[m("success-rate", INCONCLUSIVE, 15, None)]),
        HEALTHY,
        (),
        Pause(
            "analysis success-rate is inconclusive (1 inconclusive measurements, more than the limit of 0); "
            "promote or abort by hand",
            "analysis success-rate is inconclusive (1 inconclusive measurements, more than the limit of 0); "
            "promote or abort by hand",
            by_hand=True,
        ),
        id="analysis-inconclusive-over-limit-pauses-by-hand",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[bad("success-rate", 120)]),
        HEALTHY,
        (),
        Measure("success-rate"),
        id="analysis-ignores-an-earlier-steps-failure",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[bad("latency", 15)]),
        HEALTHY,
        (),
        Measure("success-rate"),
        id="analysis-ignores-other-metrics",
    ),
    pytest.param(
        rec(step=6, weight=50, measurements=[bad("latency", 15)]),
        HEALTHY,
        (),
        Measure("latency", (bad("latency", 15),)),
        id="analysis-failure-within-limit-measures",
    ),
    pytest.param(
        rec(step=6, weight=50, measurements=[bad("latency", s) for s in (25, 15)]),
        HEALTHY,
        (),
        Abort("latency 0.91 < 0.99 at 50% traffic"),
        id="analysis-second-failure-over-limit-aborts",
    ),
    pytest.param(
        rec(step=6, weight=50, measurements=[m("latency", INCONCLUSIVE, 15, None)]),
        HEALTHY,
        (),
        Measure("latency", (m("latency", INCONCLUSIVE, 15, None),)),
        id="analysis-inconclusive-within-limit-measures",
    ),
    # judge: canary against stable on the slowest template's interval
    pytest.param(rec(step=4, weight=20), HEALTHY, (), Judge(("p99", "errors")), id="judge-first"),
    pytest.param(
        rec(step=4, weight=20, measurements=[m(JUDGE, INCONCLUSIVE, 15)]),
        HEALTHY,
        (),
        Wait("judged recently", NOW + timedelta(seconds=5)),
        id="judge-waits-for-slowest-interval",
    ),
    pytest.param(
        rec(step=4, weight=20, measurements=[m(JUDGE, INCONCLUSIVE, 25)]),
        HEALTHY,
        (),
        Judge(("p99", "errors"), (m(JUDGE, INCONCLUSIVE, 25),)),
        id="judge-again-when-due",
    ),
    pytest.param(
        rec(step=4, weight=20, measurements=[m(JUDGE, FAILED, 5)], started=1),
        HEALTHY,
        (),
        Judge(("p99", "errors")),
        id="judge-ignores-earlier-steps",
    ),
    # background analysis: runs the whole rollout once traffic flows; its failure aborts first
    pytest.param(rec(), HEALTHY, ("errors-bg",), SetWeight(20), id="background-waits-for-traffic"),
    pytest.param(rec(weight=20), HEALTHY, ("errors-bg",), Measure("errors-bg"), id="background-measures"),
    pytest.param(
        rec(weight=20, measurements=[m("errors-bg", SUCCESSFUL, 5)]),
        VERIFIED,
        ("errors-bg",),
        Advance("20% of traffic on the canary"),
        id="background-not-due-step-goes-on",
    ),
    pytest.param(
        rec(step=1, weight=20, measurements=[m("errors-bg", SUCCESSFUL, 500)]),
        HEALTHY,
        ("errors-bg",),
        Measure("errors-bg", (m("errors-bg", SUCCESSFUL, 500),)),
        id="background-sees-all-steps",
    ),
    pytest.param(
        rec(step=3, weight=20, measurements=[m("errors-bg", FAILED, 500, 0.2, "0.2 > 0.05")]),
        HEALTHY,
        ("errors-bg",),
        Abort("errors-bg (background) 0.2 > 0.05 at 20% traffic"),
        id="background-failure-aborts",
    ),
    pytest.param(
        rec(step=len(STEPS), weight=50, measurements=[m("errors-bg", FAILED, 5, 0.2, "0.2 > 0.05")]),
        HEALTHY,
        ("errors-bg",),
        Abort("errors-bg (background) 0.2 > 0.05 at 50% traffic"),
        id="background-failure-beats-promotion",
    ),
    pytest.param(
        rec(weight=20, measurements=[m("errors-bg", ERROR, s, None, "refused") for s in (25, 15)]),
        HEALTHY,
        ("errors-bg",),
        Abort("errors-bg (background) could not be measured (refused) at 20% traffic"),
        id="background-errors-over-limit-abort",
    ),
    pytest.param(
        rec(step=len(STEPS), weight=50, promote_full=True),
        HEALTHY,
        ("errors-bg",),
        Measure("errors-bg"),
        id="background-due-before-promotion",
    ),
    pytest.param(
        rec(PAUSED, weight=20, paused_by_hand=True),
        HEALTHY,
        ("errors-bg",),
        Measure("errors-bg"),
        id="background-measures-while-paused-by-hand",
    ),
    pytest.param(
        rec(weight=20, measurements=[m("errors-bg", FAILED, 5, 0.2, "0.2 > 0.05")]),
        Observed(canary_health="Healthy", stable_present=False),
        ("errors-bg",),
        Abort("the stable Deployment is gone"),
        id="stable-gone-before-background",
    ),
]


@pytest.mark.parametrize(("record", "observed", "background", "expected"), ROWS)
def test_next_action(record: Rollout, observed: Observed, background: tuple[str, ...], expected) -> None:
    assert next_action(record, STEPS, observed, NOW, background=background, templates=TEMPLATES) == expected


MANY = [m(JUDGE, INCONCLUSIVE, s) for s in (45, 25)]


@pytest.mark.parametrize(
    ("verdict", "score", "taken", "limit", "expected"),
    [
        pytest.param(PASS, 100.0, (), 0, Advance("judge scored 100 (pass at 95.0)"), id="pass-advances"),
        pytest.param(FAIL, 50.0, (), 0, Abort("judge scored 50: p99: worse at 20% traffic"), id="fail-aborts"),
        pytest.param(
            MARGINAL,
            80.0,
            (),
            0,
            Pause(
                "judge scored 80, marginal (p99: worse); promote or abort by hand",
                "judge scored 80, marginal (p99: worse); promote or abort by hand",
                by_hand=True,
            ),
            id="marginal-pauses-by-hand",
        ),
        pytest.param(NODATA, 0.0, (), 2, Note("judge: not enough samples yet (p99: worse)"), id="no-data-notes"),
        pytest.param(NODATA, 0.0, MANY[:1], 2, Note("judge: not enough samples yet (p99: worse)"), id="no-data-2-of-2"),
        pytest.param(
            NODATA,
            0.0,
            MANY,
            2,
            Pause(
                "the judge had too little data 3 times (p99: worse); promote or abort by hand",
                "the judge had too little data 3 times (p99: worse); promote or abort by hand",
                by_hand=True,
            ),
            id="no-data-over-limit-pauses",
        ),
        pytest.param(
            NODATA,
            0.0,
            (),
            0,
            Pause(
                "the judge had too little data 1 times (p99: worse); promote or abort by hand",
                "the judge had too little data 1 times (p99: worse); promote or abort by hand",
                by_hand=True,
            ),
            id="no-data-limit-zero-pauses-at-once",
        ),
    ],
)
def test_judged(verdict: str, score: float, taken, limit: int, expected) -> None:
    outcome = judged(
        rec(step=4, weight=20), verdict, score, "p99: worse", taken=taken, inconclusive_limit=limit, pass_score=95.0
    )
    assert outcome == expected


@pytest.mark.parametrize(
    ("verdict", "phase"),
    [(PASS, SUCCESSFUL), (FAIL, FAILED), (MARGINAL, INCONCLUSIVE), (NODATA, INCONCLUSIVE)],
)
def test_judgement_phase(verdict: str, phase: str) -> None:
    assert judgement_phase(verdict) == phase


@pytest.mark.parametrize(
    ("record", "skips"),
    [
        pytest.param(rec(step=1), True, id="timed-pause"),
        pytest.param(rec(PAUSED, step=2), True, id="pause-until-promoted"),
        pytest.param(rec(PAUSED, step=3, paused_by_hand=True), True, id="any-step-while-paused"),
        pytest.param(rec(step=0), False, id="set-weight-progressing-only-resumes"),
        pytest.param(rec(step=3), False, id="analysis-progressing-only-resumes"),
        pytest.param(rec(PAUSED, step=len(STEPS)), False, id="past-the-end"),
    ],
)
def test_promote_by_hand_skips_step(record: Rollout, skips: bool) -> None:
    assert skips_step(record, STEPS) is skips


def test_a_change_by_hand_that_races_the_controller_is_read_again_and_retried():
    from gitopsctl.rollout.controller import Rollouts
    from gitopsctl.rollout.record import RolloutChanged

    tries = []

    def change():
        tries.append(1)
        if len(tries) < 3:
            raise RolloutChanged("the rollout of a in prod was changed by someone else just now; look again")
        return "saved"

    assert Rollouts._by_hand(None, change) == "saved" and len(tries) == 3


DELAYED = {
    **TEMPLATES,
    "success-rate": AnalysisTemplate("success-rate", "prometheus", "q", interval=10, count=3, initial_delay=90),
}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            rec(step=3, weight=20, started=60),
            Wait("initial delay of 90s before measuring success-rate", NOW + timedelta(seconds=30)),
            id="first-measurement-waits-for-the-delay",
        ),
        pytest.param(rec(step=3, weight=20, started=90), Measure("success-rate"), id="delay-over-measures"),
        pytest.param(
            rec(step=3, weight=20, started=60, measurements=[S1]),
            Measure("success-rate", (S1,)),
            id="the-delay-is-before-the-first-measurement-only",
        ),
    ],
)
def test_an_initial_delay_keeps_a_querys_window_off_what_ran_before_the_step(record: Rollout, expected) -> None:
    assert next_action(record, STEPS, HEALTHY, NOW, background=(), templates=DELAYED) == expected


def test_a_new_rollout_keeps_how_the_ones_it_replaced_ended_with_their_unshown_messages():
    note = {"front_end": "slack", "channel": "C1", "ts": "1.0"}
    first = rec(ABORTED, weight=0, message="p99 too high", messages=[note], revert_commit="r1")
    first.deploy_commit = "c1"
    second = rec(PROMOTED, weight=100)
    second.deploy_commit = "c2"
    second.replacing(first)
    third = rec()
    third.deploy_commit = "c3"
    third.replacing(second)
    assert [e["deploy_commit"] for e in third.earlier] == ["c2", "c1"]
    ended = third.ended_as("c1")
    assert (ended.phase, ended.message, ended.revert_commit, ended.active) == (ABORTED, "p99 too high", "r1", False)
    assert third.earlier[1]["notes"] == [note]  # not shown yet: the leader still has to show it
    assert third.ended_as("c3") is None  # running: not ended
    assert third.ended_as("unknown") is None

    second.messages_settled = True  # the leader showed its own messages; the first's are still due
    fourth = rec()
    fourth.replacing(second)
    assert [e["notes"] for e in fourth.earlier] == [[], [note]]

    running = rec()
    running.replacing(rec())  # an active record is never replaced this way: nothing kept
    assert running.earlier == []


def test_a_record_written_by_a_newer_version_is_read_without_what_this_one_does_not_know():
    """Two serve replicas mid-upgrade share the record: the older one must not fail on a new field."""
    import json

    written = rec(weight=20).as_dict()
    written["measurements"] = []
    written["a_field_from_the_future"] = {"x": 1}
    cm = {"metadata": {"resourceVersion": "7"}, "data": {"rollout": json.dumps(written)}}
    read = record._parse(cm)
    assert (read.weight, read.resource_version) == (20, "7")
