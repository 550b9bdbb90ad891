"""What a rollout does next: pure functions from the record, the steps and what was observed to one action.

Nothing here reads the cluster, a metric or the clock: ``act.py`` gathers an
``Observed``, passes ``now``, and carries the returned action out. So every
decision (abort, promote, move traffic, measure, wait) is tested with plain
values in a table (tests/unit/test_rollout_decide.py), as Argo Rollouts tests
``utils/replicaset/canary.go``.

Order of precedence, as the controller has always decided: an unhealthy canary
or a missing stable aborts; background analysis that failed aborts, and one
that is due is measured; a full promotion or the end of the steps promotes; a
pause by hand holds; otherwise the current step decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ..analysis.judge import FAIL, MARGINAL, PASS
from ..analysis.measurement import ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL, Limits, Measurement, assess
from ..cluster.health import DEGRADED
from ..config import AnalysisTemplate, Step
from .record import PAUSED, PENDING, Rollout

PENDING_LIMIT = timedelta(minutes=30)  # pre-rollout steps (hook Jobs, webhooks) that outlast this were abandoned

JUDGE = "judge"  # the metric name judge measurements are recorded under
NO_TEMPLATES: Mapping[str, AnalysisTemplate] = {}


@dataclass(frozen=True)
class Observed:
    """What act.py read from the cluster for this pass."""

    canary_health: str | None = None  # the canary Deployment's health status; None when it does not exist
    canary_message: str = ""
    canary_crashlooping: bool = False
    stable_present: bool = True
    weight_verified: bool = False  # traffic really follows the record's weight (the router says so)


@dataclass(frozen=True)
class Wait:
    """Nothing to do now; ``until`` is when something will be due (None: until someone acts)."""

    why: str
    until: datetime | None = None


@dataclass(frozen=True)
class SetWeight:
    weight: int


@dataclass(frozen=True)
class Advance:
    """The current step is done: on to the next, with ``why`` in the event."""

    why: str


@dataclass(frozen=True)
class Measure:
    """Take one measurement of ``template``; ``previous`` are the ones its conditions see as ``results``."""

    template: str
    previous: tuple[Measurement, ...] = ()


@dataclass(frozen=True)
class Judge:
    """Judge canary against stable for ``templates``; ``judged()`` decides on the outcome."""

    templates: tuple[str, ...]
    taken: tuple[Measurement, ...] = ()


@dataclass(frozen=True)
class Pause:
    """Hold in Paused with ``message``; ``by_hand`` means only a promote or resume by hand moves on."""

    message: str
    event: str
    by_hand: bool = False


@dataclass(frozen=True)
class Note:
    """Save the record (with a new measurement) and say ``event``; the step goes on."""

    event: str


@dataclass(frozen=True)
class Promote:
    pass


@dataclass(frozen=True)
class Abort:
    why: str


@dataclass(frozen=True)
class Done:
    """The rollout has ended (Promoted, Aborted or Failed)."""


Action = Wait | SetWeight | Advance | Measure | Judge | Pause | Note | Promote | Abort | Done


def next_action(
    record: Rollout,
    steps: Sequence[Step],
    observed: Observed,
    now: datetime,
    *,
    background: Sequence[str] = (),
    templates: Mapping[str, AnalysisTemplate] = NO_TEMPLATES,
) -> Action:
    """The one thing to do now; ``templates`` are the analysis templates the steps and ``background`` name."""
    if not record.active:
        return Done()
    if record.aborting:  # begun and not finished (its process was killed): finish it, for the same reason
        return Abort(record.aborting)
    if record.phase == PENDING:  # its pre-rollout steps are running in the process that started it
        started = parse_stamp(record.started_at) or now
        if now - started > PENDING_LIMIT:
            return Abort(
                f"its pre-rollout steps did not finish within {PENDING_LIMIT.seconds // 60} minutes "
                "(the process running them stopped?)"
            )
        return Wait("running the pre-rollout steps")
    if observed.canary_health == DEGRADED:
        return Abort(f"canary is Degraded: {observed.canary_message}")
    if observed.canary_health is not None and observed.canary_crashlooping:
        return Abort("canary pods are crash-looping")
    if not observed.stable_present:
        return Abort("the stable Deployment is gone")
    ending = record.promote_full or record.step >= len(steps)  # a promotion being finished removes the canary
    if observed.canary_health is None and record.weight > 0 and not ending:
        return Abort("the canary Deployment is gone")
    for name in background:
        action = _background(record, templates[name], now)
        if action is not None:
            return action
    if record.promote_full or record.step >= len(steps):
        return Promote()
    if record.paused_by_hand:
        return Wait("paused by hand")
    step = steps[record.step]
    if step.set_weight is not None:
        if record.weight != step.set_weight:
            return SetWeight(step.set_weight)
        if observed.weight_verified:
            return Advance(f"{step.set_weight}% of traffic on the canary")
        return SetWeight(step.set_weight)  # again: a router moves traffic only as far as ready pods can take it
    if step.pause_indefinitely:
        if record.phase != PAUSED:
            return Pause("paused until promoted by hand", f"paused at step {record.step + 1} until promoted")
        return Wait("paused until promoted by hand")
    started = parse_stamp(record.step_started_at) or now
    if step.pause is not None:
        if (now - started).total_seconds() >= step.pause:
            return Advance(f"pause of {step.pause:g}s done")
        return Wait(f"pause of {step.pause:g}s", started + timedelta(seconds=step.pause))
    if step.judge:
        interval = max(templates[name].interval for name in step.judge)
        taken = since(record.measurements, JUDGE, started)
        due = _due(taken, interval, now)
        if due is not None:
            return Wait("judged recently", due)
        return Judge(tuple(step.judge), tuple(taken))
    return _analysis(record, templates[step.analysis or ""], started, now)


def _background(record: Rollout, template: AnalysisTemplate, now: datetime) -> Action | None:
    """Runs the whole rollout: a failure aborts, a measurement is due every interval once traffic flows."""
    taken = [m for m in record.measurements if m.metric == template.name]
    phase, why = assess(taken, replace(limits(template), count=10**9))
    if phase in (FAILED, ERROR):
        return Abort(f"{template.name} (background) {last_reason(taken) or why} at {record.weight}% traffic")
    if record.weight > 0 and _due(taken, template.interval, now) is None:
        return Measure(template.name, tuple(taken))
    return None


def _analysis(record: Rollout, template: AnalysisTemplate, started: datetime, now: datetime) -> Action:
    taken = since(record.measurements, template.name, started)
    phase, why = assess(taken, limits(template))
    if phase == SUCCESSFUL:
        return Advance(f"analysis {template.name} passed")
    if phase in (FAILED, ERROR):
        return Abort(f"{template.name} {last_reason(taken) or why} at {record.weight}% traffic")
    if phase == INCONCLUSIVE:
        message = f"analysis {template.name} is inconclusive ({why}); promote or abort by hand"
        return Pause(message, message, by_hand=True)
    first = started + timedelta(seconds=template.initial_delay)
    if not taken and now < first:  # the query's window would still hold samples from before this step
        return Wait(f"initial delay of {template.initial_delay:g}s before measuring {template.name}", first)
    due = _due(taken, template.interval, now)
    if due is not None:
        return Wait(f"next measurement of {template.name}", due)
    return Measure(template.name, tuple(taken))


def judged(
    record: Rollout,
    verdict: str,
    score: float,
    reasons: str,
    *,
    taken: Sequence[Measurement],
    inconclusive_limit: int,
    pass_score: float,
) -> Action:
    """After a judgement: pass advances, fail aborts, marginal (or too often no data) waits for a person."""
    if verdict == PASS:
        return Advance(f"judge scored {score:.0f} (pass at {pass_score})")
    if verdict == FAIL:
        return Abort(f"judge scored {score:.0f}: {reasons} at {record.weight}% traffic")
    if verdict == MARGINAL:
        message = f"judge scored {score:.0f}, marginal ({reasons}); promote or abort by hand"
        return Pause(message, message, by_hand=True)
    no_data = sum(1 for m in taken if m.phase == INCONCLUSIVE) + 1
    if no_data > inconclusive_limit:
        message = f"the judge had too little data {no_data} times ({reasons}); promote or abort by hand"
        return Pause(message, message, by_hand=True)
    return Note(f"judge: not enough samples yet ({reasons})")


def judgement_phase(verdict: str) -> str:
    """A judgement recorded as a measurement: Pass is Successful, Fail is Failed, anything else Inconclusive."""
    return {PASS: SUCCESSFUL, FAIL: FAILED, MARGINAL: INCONCLUSIVE}.get(verdict, INCONCLUSIVE)


def skips_step(record: Rollout, steps: Sequence[Step]) -> bool:
    """Whether a promote by hand moves past the current step (a pause, or anything while Paused) or only resumes."""
    current = steps[record.step] if record.step < len(steps) else None
    return current is not None and (current.pause is not None or current.pause_indefinitely or record.phase == PAUSED)


def limits(template: AnalysisTemplate) -> Limits:
    return Limits(template.count, template.failure_limit, template.inconclusive_limit, template.consecutive_error_limit)


def since(measurements: Sequence[Measurement], metric: str, started: datetime) -> list[Measurement]:
    """``metric``'s measurements taken in the current step."""
    return [m for m in measurements if m.metric == metric and measured_at(m) >= started]


def _due(taken: Sequence[Measurement], interval: float, now: datetime) -> datetime | None:
    """When the next measurement is due, or None when it is due now."""
    last = max((measured_at(m) for m in taken), default=None)
    if last is not None and (now - last).total_seconds() < interval:
        return last + timedelta(seconds=interval)
    return None


def parse_stamp(stamp: str | None) -> datetime | None:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) if stamp else None


def measured_at(measurement: Measurement) -> datetime:
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(measurement.at, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return datetime.min.replace(tzinfo=UTC)


def last_reason(measurements: Sequence[Measurement]) -> str:
    """The numbers of the last failed measurement (``0.91 < 0.99``), or why the last one could not be taken."""
    for m in reversed(measurements):
        if m.phase in (FAILED, ERROR):
            return m.message if m.phase == FAILED else f"could not be measured ({m.message})"
    return ""
