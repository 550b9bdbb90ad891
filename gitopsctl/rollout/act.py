"""The rollout's reads and writes: what ``decide.next_action`` is given, and carrying out what it returns.

Every action is idempotent (setting the same weight, re-committing the same
revert changes nothing) and ends with the record saved, with the resourceVersion
it was read at, so two controllers never both act and a killed process loses
nothing. An abort sends all traffic to stable at once, removes the canary and
reverts the deploy in Git with a commit that says why; a promotion syncs what
Git says to the stable Deployment and removes the canary.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from .. import waits
from ..analysis.judge import judge, judge_metric
from ..analysis.measurement import Measurement
from ..analysis.providers import ProviderError, provider_for
from ..analysis.run import compile_template, measure, render_query
from ..cluster import health as health_checks
from ..cluster import quarantine
from ..cluster.locks import Locks
from ..config import App, Environment
from ..errors import NotFoundError, PolicyError
from ..failpoints import reach
from ..source.manifests import WORKLOAD_KINDS
from ..sync.hooks import POST_PROMOTION
from . import record as records
from . import steps, traffic
from .decide import (
    JUDGE,
    Abort,
    Action,
    Advance,
    Judge,
    Measure,
    Note,
    Observed,
    Pause,
    Promote,
    SetWeight,
    judged,
    judgement_phase,
)
from .record import ABORTED, PAUSED, PROGRESSING, PROMOTED, Rollout, now, stamp
from .revert import revert
from .steps import Notifier
from .traffic import TrafficRouter

if TYPE_CHECKING:
    from ..engine import Engine

TRACK_LABEL = "gitopsctl.io/track"

DRAIN_SECONDS = 60.0  # the longest an abort or a promotion waits for stable's pods before removing the canary
log = logging.getLogger(__name__)
CONFLICT_ATTEMPTS = 5  # manual actions and the controller write one record; the later re-reads and retries


def canary_name(workload: str) -> str:
    return f"{workload}-canary"


class Act:
    """Reads the cluster and Git for one rollout and carries its actions out; every change saves the record."""

    def __init__(self, engine: Engine, notify: Notifier) -> None:
        self.engine = engine
        self.notify = notify

    # ------------------------------------------------------------ reads

    def active(self, app: App, env: Environment) -> Rollout | None:
        rollout = records.read(self.engine.cluster(env), app.name, env.name, env.namespace)
        return rollout if rollout is not None and rollout.active else None

    def in_progress(self, app_name: str, env_name: str) -> tuple[App, Environment, Rollout]:
        app, env = self.engine.resolve(app_name, env_name)
        rollout = self.active(app, env)
        if rollout is None:
            raise PolicyError(f"{app.name} in {env.name} has no rollout in progress")
        return app, env, rollout

    def workload(self, app: App, env: Environment, revision: str) -> dict[str, Any]:
        _, desired = self.engine.workspace.desired(app, env, self.engine.repo.resolve(revision))
        for obj in desired:
            if obj["kind"] == "Deployment" and any(
                c.get("name") == app.container for c in obj["spec"]["template"]["spec"].get("containers") or []
            ):
                return obj
        kinds = ", ".join(sorted(WORKLOAD_KINDS))
        raise PolicyError(
            f"{app.name} in {env.name} has no Deployment running container {app.container!r}; "
            f"canary rollouts need one (other kinds: {kinds} are not supported yet)"
        )

    def router(self, app: App, env: Environment, stable: dict[str, Any]) -> TrafficRouter:
        name, namespace = stable["metadata"]["name"], stable["metadata"]["namespace"]
        replicas = int(stable["spec"].get("replicas", 1))
        kind = app.canary.traffic_router if app.canary else "replicas"
        service = None
        if traffic.needs_service(kind):
            _, desired = self.engine.workspace.desired(app, env, self.engine.repo.resolve(None))
            service = next((o for o in desired if o["kind"] == "Service"), None)
            if service is None:
                raise PolicyError(f"the {kind} traffic router needs a Service in {app.name}'s manifests for {env.name}")
        labels = {"gitopsctl.io/app": app.name, "gitopsctl.io/env": env.name}
        cluster = self.engine.cluster(env)
        return traffic.build(
            kind,
            cluster,
            namespace,
            name,
            canary_name(name),
            replicas,
            service=service,
            labels=labels,
            scale_down_delay=app.canary.scale_down_delay if app.canary else 0.0,
            gateway=app.canary.gateway if app.canary else None,
        )

    def observe(self, env: Environment, stable: dict[str, Any], router: TrafficRouter, weight: int) -> Observed:
        """The canary's health, whether stable is still there and whether traffic follows ``weight``."""
        cluster = self.engine.cluster(env)
        canary = cluster.get("apps/v1", "Deployment", router.canary, router.namespace)
        health = health_checks.assess(canary) if canary is not None else None
        live_stable = cluster.get("apps/v1", "Deployment", stable["metadata"]["name"], stable["metadata"]["namespace"])
        return Observed(
            canary_health=health.status if health else None,
            canary_message=health.message if health else "",
            canary_crashlooping=canary is not None and _crashlooping(cluster, router.namespace, canary),
            stable_present=live_stable is not None,
            weight_verified=router.verify_weight(weight),
        )

    # ------------------------------------------------------------ writes

    def save(self, env: Environment, rollout: Rollout, event: str | None = None) -> Rollout:
        if event:
            rollout.note(event, stamp(now()))
        saved = records.write(self.engine.cluster(env), env.namespace, rollout)
        reach("record-saved")
        self.engine.metrics.rollout(saved.app, saved.env, saved.phase, saved.weight)
        if event:
            self.notify(saved, event)
        return saved

    def carry_out(self, app: App, env: Environment, rollout: Rollout, router: TrafficRouter, action: Action) -> Rollout:
        """Do what ``action`` says; Wait and Done change nothing."""
        if isinstance(action, Abort):
            return self.abort(
                app.name,
                env.name,
                why=action.why,
                reason=rollout.abort_reason,
                actor=rollout.abort_actor or "gitopsctl",
            )
        if isinstance(action, Promote):
            return self.promote(app, env, rollout, router)
        if isinstance(action, SetWeight):
            router.set_weight(action.weight)
            if rollout.weight == action.weight:
                return rollout  # the router goes on moving traffic as pods become ready: nothing new to record
            reach("weight-set")
            rollout.weight = action.weight
            return self.save(env, rollout, f"canary weight set to {action.weight}%")
        if isinstance(action, Advance):
            return self.advance(env, rollout, action.why)
        if isinstance(action, Pause):
            rollout.phase, rollout.message = PAUSED, action.message
            if action.by_hand:
                rollout.paused_by_hand = True
            return self.save(env, rollout, action.event)
        if isinstance(action, Measure):
            return self.take(app, env, rollout, action)
        if isinstance(action, Judge):
            return self.judge(app, env, rollout, router, action)
        if isinstance(action, Note):
            return self.save(env, rollout, action.event)
        return rollout

    def advance(self, env: Environment, rollout: Rollout, why: str) -> Rollout:
        rollout.step += 1
        rollout.step_started_at = stamp(now())
        rollout.phase = PROGRESSING
        rollout.message = ""
        return self.save(env, rollout, f"step {rollout.step} done ({why})")

    def take(self, app: App, env: Environment, rollout: Rollout, action: Measure) -> Rollout:
        template = self.engine.config.analysis[action.template]
        provider = provider_for(template, self.engine.config)
        variables = {**analysis_variables(app, env), "track": "canary"}
        measurement = measure(compile_template(template), provider, variables, action.previous)
        reach("analysis-measured")
        rollout.measured(measurement)
        self.engine.metrics.measurements.labels(app.name, env.name, template.name, measurement.phase).inc()
        shown = measurement.shown
        if measurement.message:
            why = f" ({measurement.message})"
        else:
            conditions = [f"success when {template.success_condition}"] if template.success_condition else []
            conditions += [f"failure when {template.failure_condition}"] if template.failure_condition else []
            why = f" ({'; '.join(conditions)})" if conditions else ""
        return self.save(
            env, rollout, f"{template.name} = {shown}: {measurement.phase}{why} at {rollout.weight}% traffic"
        )

    def judge(self, app: App, env: Environment, rollout: Rollout, router: TrafficRouter, action: Judge) -> Rollout:
        """Canary against stable over the same window for every metric; the score decides (Kayenta-style)."""
        config = self.engine.config
        templates = [config.analysis[name] for name in action.templates]
        variables = analysis_variables(app, env)
        verdicts = []
        for template in templates:
            provider = provider_for(template, config)
            try:
                canary = provider.samples(
                    render_query(template.query, {**variables, "track": "canary"}),
                    template.window,
                    max(1.0, template.interval),
                )
                stable = provider.samples(
                    render_query(template.query, {**variables, "track": "stable"}),
                    template.window,
                    max(1.0, template.interval),
                )
            except ProviderError as e:
                canary, stable = [], []
                rollout.note(f"{template.name}: {e}", stamp(now()))
            verdicts.append(
                judge_metric(
                    template.name, canary, stable, bad=template.judge or "increase", min_samples=template.min_samples
                )
            )
        judgement = judge(verdicts, pass_score=config.pass_score, marginal_score=config.marginal_score)
        reasons = "; ".join(f"{v.metric}: {v.reason}" for v in verdicts if v.reason)
        phase = judgement_phase(judgement.verdict)
        rollout.measured(Measurement(JUDGE, phase, judgement.score, stamp(now()), reasons))
        self.engine.metrics.measurements.labels(app.name, env.name, JUDGE, phase).inc()
        outcome = judged(
            rollout,
            judgement.verdict,
            judgement.score,
            reasons,
            taken=action.taken,
            inconclusive_limit=max(t.inconclusive_limit for t in templates),
            pass_score=config.pass_score,
        )
        if isinstance(outcome, Abort):  # keep the judgement in the record before the abort reads it again
            rollout = self.save(env, rollout, f"judge scored {judgement.score:.0f}: {phase}")
        return self.carry_out(app, env, rollout, router, outcome)

    def promote(self, app: App, env: Environment, rollout: Rollout, router: TrafficRouter) -> Rollout:
        """Git's revision synced to stable (its hooks included); a sync that fails there, a PostSync smoke test
        say, aborts the rollout and reverts it as a failed analysis would."""
        synced = self.engine.syncs.sync(
            app.name, env.name, revision=rollout.deploy_commit, wait=True, actor=rollout.actor
        )
        reach("promotion-synced")
        # the thread and the console show the promotion's hooks as its steps
        steps.note_hooks(rollout, synced.hooks, self.notify)
        failure = f"the promotion's sync failed: {synced.message}" if synced.result == "Failed" else None
        why = steps.run(self.engine, app, env, rollout, POST_PROMOTION, self.notify) if failure is None else None
        if why is not None:
            failure = f"a post-promotion step failed: {why}"
        if failure is not None:
            rollout = self.save(env, rollout)  # the abort reads the record again: keep the steps' notes
            return self.abort(app.name, env.name, why=failure)
        self._drain(env, router)
        self.engine.cluster(env).delete("apps/v1", "Deployment", router.canary, router.namespace)
        router.remove()
        rollout.phase, rollout.weight, rollout.message = PROMOTED, 100, f"{rollout.canary_version} is stable"
        return self.save(env, rollout, f"promoted {app.name} {rollout.canary_version} in {env.name}")

    def abort(self, app_name: str, env_name: str, *, why: str, reason: str = "", actor: str = "gitopsctl") -> Rollout:
        """Traffic to stable at once, canary removed, the deploy reverted in Git by a commit that says ``why``.

        Under the app's lock: one abort at a time (a second, by hand or by the controller, is told who is
        aborting); a process killed mid-abort leaves the lock to expire, then the next finishes it."""
        app, env = self.engine.resolve(app_name, env_name)
        locks = Locks(self.engine.cluster(env), env.namespace)
        with locks.hold(app.name, env.name, actor=actor, operation="abort"):
            return self.abort_held(app.name, env.name, why=why, reason=reason, actor=actor)

    def abort_held(
        self, app_name: str, env_name: str, *, why: str, reason: str = "", actor: str = "gitopsctl"
    ) -> Rollout:
        """``abort`` for a caller that already holds the app's lock (a rollout's start, under its deploy's lock)."""
        app, env, rollout = self.in_progress(app_name, env_name)
        if rollout.aborting:  # an earlier attempt was killed: finish it as it began
            why, reason, actor = rollout.aborting, rollout.abort_reason, rollout.abort_actor or actor
        else:
            rollout.aborting, rollout.abort_reason, rollout.abort_actor = why, reason, actor
            rollout = self.save(env, rollout)
        stable = self.workload(app, env, rollout.deploy_commit)
        router = self.router(app, env, stable)
        cluster = self.engine.cluster(env)
        if rollout.base_commit and cluster.get("apps/v1", "Deployment", router.stable, router.namespace) is None:
            # stable was deleted: bring it back before the canary goes, or nothing would serve
            self.engine.syncs.sync(app.name, env.name, revision=rollout.base_commit, wait=True, actor=actor)
        with contextlib.suppress(NotFoundError):  # an earlier attempt got further: what is gone needs no undoing
            self._drain(env, router)
        cluster.delete("apps/v1", "Deployment", router.canary, router.namespace)
        router.remove()
        rollout.revert_commit = revert(
            self.engine.writer, self.engine.repo, app, env, rollout, stable, why=why, reason=reason, actor=actor
        )
        reach("revert-pushed")
        # back to what ran before, never Git's head: commits pushed meanwhile (or a base shared with other
        # environments that could not be reverted here) wait for their own gates
        self.engine.syncs.sync(app.name, env.name, revision=rollout.base_commit, actor=actor)
        self._quarantine(app, env, rollout, why=reason or why, actor=actor)
        event = f"aborted: {reason or why}; all traffic is back on {rollout.stable_version}"
        if rollout.revert_commit is None and rollout.change:
            event += (
                f"; the change is not below {app.path_for(env.name)} (a base other environments share), so Git "
                "keeps it: quarantined, it is not delivered here again"
            )
        for _ in range(CONFLICT_ATTEMPTS):  # traffic is back and Git reverted: the record must say so
            rollout.phase, rollout.weight, rollout.message = ABORTED, 0, reason or why
            try:
                return self.save(env, rollout, event)
            except records.RolloutChanged:  # the controller wrote in between: record the abort on its version
                fresh = records.read(self.engine.cluster(env), app.name, env.name, env.namespace)
                if fresh is None or not fresh.active:
                    return fresh or rollout
                fresh.revert_commit = rollout.revert_commit
                rollout = fresh
        raise records.RolloutChanged(f"the rollout of {app.name} in {env.name} kept changing; abort it again")

    def _drain(self, env: Environment, router: TrafficRouter) -> None:
        """All traffic to stable; then, before the canary goes, wait (up to ``DRAIN_SECONDS``) until stable's ready
        pods carry it, and for a mesh or ingress, ``scale_down_delay`` more for its proxies to take the new route.

        A canary with no ready pod serves nothing and is not waited for; a stable that never gets ready does
        not hold an abort up for longer than that.
        """
        cluster = self.engine.cluster(env)

        def canary_ready() -> int:
            canary = cluster.get("apps/v1", "Deployment", router.canary, router.namespace) or {}
            return int((canary.get("status") or {}).get("readyReplicas", 0))

        if not canary_ready():
            router.set_weight(0)
            return
        deadline = time.monotonic() + DRAIN_SECONDS
        router.set_weight(0)
        while not router.verify_weight(0) and canary_ready() and time.monotonic() < deadline:
            waits.sleep(0.2)
            router.set_weight(0)
        if router.scale_down_delay and canary_ready():
            waits.sleep(router.scale_down_delay)

    def _quarantine(self, app: App, env: Environment, rollout: Rollout, *, why: str, actor: str) -> None:
        """An aborted version (or, when the tag did not change, its pod template) is refused everywhere from now on."""
        if rollout.canary_version and rollout.canary_version != rollout.stable_version:
            version = rollout.canary_version
        elif rollout.template:
            version = quarantine.template_version(rollout.template)
        else:
            return  # a record from before templates were kept: nothing to know the change by
        cluster, namespace = self.engine.coordination()
        quarantine.add(cluster, namespace, app.name, version, env=env.name, reason=why, by=actor)


def analysis_variables(app: App, env: Environment) -> dict[str, str]:
    """What an analysis query's placeholders are filled with (``track`` is added per measurement)."""
    return {
        "app": app.name,
        "env": env.name,
        "namespace": env.namespace,
        "canary": canary_name(app.name),
        "stable": app.name,
    }


def _crashlooping(cluster: Any, namespace: str, canary: dict[str, Any]) -> bool:
    pods = cluster.list("v1", "Pod", namespace, label_selector=f"{TRACK_LABEL}=canary")
    owner_prefix = canary["metadata"]["name"] + "-"
    return any(
        ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
        for pod in pods
        if pod["metadata"]["name"].startswith(owner_prefix)
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
    )
