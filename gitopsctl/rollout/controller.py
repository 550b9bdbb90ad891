"""The rollout state machine: level-triggered, like a Kubernetes controller.

``reconcile()`` reads the record, takes the next idempotent action for the
current step and writes the record back; a killed process loses nothing, and
repeating an action (setting the same weight, re-committing the same revert)
changes nothing. Decisions are small pure functions over the record.

Steps: ``set_weight`` (move traffic, wait until it really moved), ``pause`` (a
duration, or until promoted by hand), ``analysis`` (measure on an interval until
the template's count; any failure aborts). Canary pods that crash-loop or miss
their progress deadline abort the rollout whatever the step. The end of the
steps promotes: the stable Deployment gets the new version (what Git says),
the canary goes. An abort sends all traffic to stable at once, removes the
canary and reverts the deploy in Git with a commit that says why.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..analysis.judge import FAIL, MARGINAL, PASS, judge, judge_metric
from ..analysis.measurement import ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL, Measurement, assess
from ..analysis.providers import ProviderError
from ..analysis.run import compile_template, measure, provider_for, render_query
from ..cluster import health as health_checks
from ..config import App, Environment, Step
from ..errors import PolicyError, SourceError
from ..source.images import set_version
from ..source.manifests import WORKLOAD_KINDS, image_repository
from . import record as records
from .record import ABORTED, PAUSED, PROGRESSING, PROMOTED, Rollout
from .traffic import TrafficRouter
from .traffic.gateway import GatewayRouter
from .traffic.istio import IstioRouter
from .traffic.nginx import NginxRouter
from .traffic.replicas import ReplicasRouter

if TYPE_CHECKING:
    from ..engine import Engine

TRACK_LABEL = "gitopsctl.io/track"
REASON_LIMIT = 200  # characters of a typed abort reason kept in the revert commit's Reason: trailer
Notifier = Callable[[Rollout, str], None]


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(stamp: str | None) -> datetime | None:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) if stamp else None


def canary_name(workload: str) -> str:
    return f"{workload}-canary"


class Rollouts:
    def __init__(self, engine: Engine, notify: Notifier | None = None) -> None:
        self.engine = engine
        self.notify = notify or (lambda rollout, text: None)

    # ------------------------------------------------------------ helpers

    def _workload(self, app: App, env: Environment, revision: str) -> dict[str, Any]:
        _, desired = self.engine._desired(app, env, self.engine.repo.resolve(revision))
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

    def _router(self, app: App, env: Environment, stable: dict[str, Any]) -> TrafficRouter:
        name, namespace = stable["metadata"]["name"], stable["metadata"]["namespace"]
        replicas = int(stable["spec"].get("replicas", 1))
        kind = app.canary.traffic_router if app.canary else "replicas"
        if kind == "replicas":
            return ReplicasRouter(self.engine.cluster(env), namespace, name, canary_name(name), replicas)
        _, desired = self.engine._desired(app, env, self.engine.repo.resolve(None))
        service = next((o for o in desired if o["kind"] == "Service"), None)
        if service is None:
            raise PolicyError(f"the {kind} traffic router needs a Service in {app.name}'s manifests for {env.name}")
        labels = {"gitopsctl.io/app": app.name, "gitopsctl.io/env": env.name}
        router = {"istio": IstioRouter, "gateway": GatewayRouter, "nginx": NginxRouter}[kind]
        return router(self.engine.cluster(env), namespace, name, canary_name(name), replicas, service, labels)

    def _save(self, env: Environment, rollout: Rollout, event: str | None = None) -> Rollout:
        if event:
            rollout.note(event, _stamp(_now()))
        saved = records.write(self.engine.cluster(env), env.namespace, rollout)
        self.engine.metrics.rollout(saved.app, saved.env, saved.phase, saved.weight)
        if event:
            self.notify(saved, event)
        return saved

    def _in_progress(self, app_name: str, env_name: str) -> tuple[App, Environment, Rollout]:
        app, env = self.engine.resolve(app_name, env_name)
        rollout = self.active(app, env)
        if rollout is None:
            raise PolicyError(f"{app.name} in {env.name} has no rollout in progress")
        return app, env, rollout

    def get(self, app_name: str, env_name: str) -> Rollout | None:
        app, env = self.engine.resolve(app_name, env_name)
        return records.read(self.engine.cluster(env), app.name, env.name, env.namespace)

    def active(self, app: App, env: Environment) -> Rollout | None:
        rollout = records.read(self.engine.cluster(env), app.name, env.name, env.namespace)
        return rollout if rollout is not None and rollout.active else None

    # ------------------------------------------------------------ start

    def start(
        self, app: App, env: Environment, *, stable_version: str, canary_version: str, commit: str, actor: str
    ) -> Rollout:
        """Create the canary from Git's manifests at ``commit`` (the new image) with no traffic, and the record."""
        workload = self._workload(app, env, commit)
        canary = copy.deepcopy(workload)
        meta = canary["metadata"]
        meta["name"] = canary_name(meta["name"])
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in ("app.kubernetes.io/managed-by",)}
        labels[TRACK_LABEL] = "canary"
        meta["labels"] = labels
        meta.pop("annotations", None)  # not tracked: Git does not declare it, so prune and drift leave it alone
        canary["spec"]["replicas"] = 0
        canary["spec"]["selector"].setdefault("matchLabels", {})[TRACK_LABEL] = "canary"
        canary["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {})[TRACK_LABEL] = "canary"
        self.engine.cluster(env).apply(canary)
        previous = records.read(self.engine.cluster(env), app.name, env.name, env.namespace)
        rollout = Rollout(
            app.name,
            env.name,
            PROGRESSING,
            stable_version,
            canary_version,
            commit,
            actor,
            _stamp(_now()),
            step_started_at=_stamp(_now()),
        )
        rollout.resource_version = previous.resource_version if previous else None
        return self._save(env, rollout, f"rollout of {app.name} {canary_version} to {env.name} started by {actor}")

    # ------------------------------------------------------------ reconcile

    def reconcile(self, app_name: str, env_name: str) -> Rollout | None:
        app, env = self.engine.resolve(app_name, env_name)
        rollout = self.active(app, env)
        if rollout is None:
            return None
        stable = self._workload(app, env, rollout.deploy_commit)
        live_stable = self.engine.cluster(env).get(
            "apps/v1", "Deployment", stable["metadata"]["name"], stable["metadata"]["namespace"]
        )
        router = self._router(app, env, stable)
        canary = self.engine.cluster(env).get("apps/v1", "Deployment", router.canary, router.namespace)
        if canary is not None and health_checks.assess(canary).status == health_checks.DEGRADED:
            return self._abort(app.name, env.name, why=f"canary is Degraded: {health_checks.assess(canary).message}")
        if canary is not None and _crashlooping(self.engine.cluster(env), router.namespace, canary):
            return self._abort(app.name, env.name, why="canary pods are crash-looping")
        if live_stable is None:
            return self._abort(app.name, env.name, why="the stable Deployment is gone")
        background = self._background(app, env, rollout)
        if background is not None:
            return background
        steps = app.canary.steps if app.canary else ()
        if rollout.promote_full or rollout.step >= len(steps):
            return self._promote(app, env, rollout, router)
        if rollout.paused_by_hand:
            return rollout
        step = steps[rollout.step]
        if step.set_weight is not None:
            return self._weight_step(env, rollout, router, step.set_weight)
        if step.pause_indefinitely:
            if rollout.phase != PAUSED:
                rollout.phase = PAUSED
                rollout.message = "paused until promoted by hand"
                return self._save(env, rollout, f"paused at step {rollout.step + 1} until promoted")
            return rollout
        if step.pause is not None:
            started = _parse(rollout.step_started_at) or _now()
            if (_now() - started).total_seconds() >= step.pause:
                return self._advance(env, rollout, f"pause of {step.pause:g}s done")
            return rollout
        if step.judge:
            return self._judge_step(app, env, rollout, step)
        return self._analysis_step(app, env, rollout, step)

    def _background(self, app: App, env: Environment, rollout: Rollout) -> Rollout | None:
        """Background analysis runs for the whole rollout; a failure aborts, a due measurement is taken."""
        for name in app.canary.background_analysis if app.canary else ():
            template = self.engine.config.analysis[name]
            compiled = compile_template(template)
            taken = [m for m in rollout.measurements if m.metric == name]
            phase, why = assess(taken, replace(compiled.limits, count=10**9))
            if phase in (FAILED, ERROR):
                return self._abort(
                    app.name,
                    env.name,
                    why=f"{name} (background) {_last_reason(taken) or why} at {rollout.weight}% traffic",
                )
            last = max((_measured_at(m) for m in taken), default=None)
            if rollout.weight > 0 and (last is None or (_now() - last).total_seconds() >= template.interval):
                return self._take(app, env, rollout, compiled, taken)
        return None

    def _take(self, app: App, env: Environment, rollout: Rollout, compiled, taken) -> Rollout:
        template = compiled.template
        provider = provider_for(template, self.engine.config)
        variables = {**_variables(app, env), "track": "canary"}
        measurement = measure(compiled, provider, variables, taken)
        rollout.measured(measurement)
        self.engine.metrics.measurements.labels(app.name, env.name, template.name, measurement.phase).inc()
        shown = f"{measurement.value:.4g}" if isinstance(measurement.value, float) else repr(measurement.value)
        if measurement.message:
            why = f" ({measurement.message})"
        else:
            conditions = [f"success when {template.success_condition}"] if template.success_condition else []
            conditions += [f"failure when {template.failure_condition}"] if template.failure_condition else []
            why = f" ({'; '.join(conditions)})" if conditions else ""
        return self._save(
            env, rollout, f"{template.name} = {shown}: {measurement.phase}{why} at {rollout.weight}% traffic"
        )

    def _advance(self, env: Environment, rollout: Rollout, why: str) -> Rollout:
        rollout.step += 1
        rollout.step_started_at = _stamp(_now())
        rollout.phase = PROGRESSING
        rollout.message = ""
        return self._save(env, rollout, f"step {rollout.step} done ({why})")

    def _weight_step(self, env: Environment, rollout: Rollout, router: TrafficRouter, weight: int) -> Rollout:
        if rollout.weight != weight:
            router.set_weight(weight)
            rollout.weight = weight
            return self._save(env, rollout, f"canary weight set to {weight}%")
        if router.verify_weight(weight):
            return self._advance(env, rollout, f"{weight}% of traffic on the canary")
        return rollout

    def _analysis_step(self, app: App, env: Environment, rollout: Rollout, step: Step) -> Rollout:
        template = self.engine.config.analysis[step.analysis]
        compiled = compile_template(template)
        started = _parse(rollout.step_started_at) or _now()
        taken = [m for m in rollout.measurements if m.metric == template.name and _measured_at(m) >= started]
        phase, why = assess(taken, compiled.limits)
        if phase == SUCCESSFUL:
            return self._advance(env, rollout, f"analysis {template.name} passed")
        if phase in (FAILED, ERROR):
            return self._abort(
                app.name, env.name, why=f"{template.name} {_last_reason(taken) or why} at {rollout.weight}% traffic"
            )
        if phase == INCONCLUSIVE:
            rollout.phase, rollout.message = (
                PAUSED,
                f"analysis {template.name} is inconclusive ({why}); promote or abort by hand",
            )
            rollout.paused_by_hand = True
            return self._save(env, rollout, rollout.message)
        last = max((_measured_at(m) for m in taken), default=None)
        if last is not None and (_now() - last).total_seconds() < template.interval:
            return rollout
        return self._take(app, env, rollout, compiled, taken)

    def _judge_step(self, app: App, env: Environment, rollout: Rollout, step: Step) -> Rollout:
        """Canary against stable over the same window for every metric; the score decides (Kayenta-style)."""
        config = self.engine.config
        templates = [config.analysis[name] for name in step.judge]
        interval = max(t.interval for t in templates)
        started = _parse(rollout.step_started_at) or _now()
        taken = [m for m in rollout.measurements if m.metric == "judge" and _measured_at(m) >= started]
        last = max((_measured_at(m) for m in taken), default=None)
        if last is not None and (_now() - last).total_seconds() < interval:
            return rollout
        variables = _variables(app, env)
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
                rollout.note(f"{template.name}: {e}", _stamp(_now()))
            verdicts.append(
                judge_metric(
                    template.name, canary, stable, bad=template.judge or "increase", min_samples=template.min_samples
                )
            )
        judgement = judge(verdicts, pass_score=config.pass_score, marginal_score=config.marginal_score)
        reasons = "; ".join(f"{v.metric}: {v.reason}" for v in verdicts if v.reason)
        phase = {PASS: SUCCESSFUL, FAIL: FAILED, MARGINAL: INCONCLUSIVE}.get(judgement.verdict, INCONCLUSIVE)
        rollout.measured(Measurement("judge", phase, judgement.score, _stamp(_now()), reasons))
        self.engine.metrics.measurements.labels(app.name, env.name, "judge", phase).inc()
        if judgement.verdict == FAIL:  # keep the judgement in the record before the abort reads it again
            rollout = self._save(env, rollout, f"judge scored {judgement.score:.0f}: {phase}")
        if judgement.verdict == PASS:
            return self._advance(env, rollout, f"judge scored {judgement.score:.0f} (pass at {config.pass_score})")
        if judgement.verdict == FAIL:
            return self._abort(
                app.name, env.name, why=f"judge scored {judgement.score:.0f}: {reasons} at {rollout.weight}% traffic"
            )
        if judgement.verdict == MARGINAL:
            rollout.phase, rollout.paused_by_hand = PAUSED, True
            rollout.message = f"judge scored {judgement.score:.0f}, marginal ({reasons}); promote or abort by hand"
            return self._save(env, rollout, rollout.message)
        no_data = sum(1 for m in taken if m.phase == INCONCLUSIVE) + 1
        limit = max(t.inconclusive_limit for t in templates)
        if no_data > limit:
            rollout.phase, rollout.paused_by_hand = PAUSED, True
            rollout.message = f"the judge had too little data {no_data} times ({reasons}); promote or abort by hand"
            return self._save(env, rollout, rollout.message)
        return self._save(env, rollout, f"judge: not enough samples yet ({reasons})")

    # ------------------------------------------------------------ endings

    def _promote(self, app: App, env: Environment, rollout: Rollout, router: TrafficRouter) -> Rollout:
        self.engine.sync(
            app.name, env.name, revision=rollout.deploy_commit, wait=True, actor=rollout.actor, _rollout=True
        )
        self.engine.cluster(env).delete("apps/v1", "Deployment", router.canary, router.namespace)
        router.remove()
        rollout.phase, rollout.weight, rollout.message = PROMOTED, 100, f"{rollout.canary_version} is stable"
        return self._save(env, rollout, f"promoted {app.name} {rollout.canary_version} in {env.name}")

    def abort(self, app_name: str, env_name: str, *, reason: str = "", actor: str = "gitopsctl") -> Rollout:
        """Aborted by hand: the revert's title is ours ("aborted by <actor>"), never what was typed.

        ``reason`` (typed in Slack or a terminal) goes in a ``Reason:`` trailer, on one line and capped,
        so it can neither pose as gitopsctl's own words nor forge a trailer.
        """
        typed = " ".join(reason.split())
        typed = typed if len(typed) <= REASON_LIMIT else typed[: REASON_LIMIT - 1] + "…"
        return self._abort(app_name, env_name, why=f"aborted by {actor}", reason=typed, actor=actor)

    def _abort(self, app_name: str, env_name: str, *, why: str, reason: str = "", actor: str = "gitopsctl") -> Rollout:
        """Traffic to stable at once, canary removed, the deploy reverted in Git by a commit that says ``why``."""
        app, env, rollout = self._in_progress(app_name, env_name)
        stable = self._workload(app, env, rollout.deploy_commit)
        router = self._router(app, env, stable)
        router.set_weight(0)
        self.engine.cluster(env).delete("apps/v1", "Deployment", router.canary, router.namespace)
        router.remove()
        path = app.path_for(env.name)
        repository = _repository(stable, app.container)
        title = f"Roll back {app.name} {env.name} to {rollout.stable_version}: {why}"
        try:
            rollout.revert_commit = self.engine.writer.commit(
                lambda root: [set_version(root / path, app.container, rollout.stable_version, repository).path],
                title,
                {"Rolled-back-by": actor, "Deployed-by": rollout.actor, "Reason": reason},
            )
        except SourceError as e:
            if "nothing to commit" not in str(e):
                raise  # already reverted by an earlier attempt otherwise
        self.engine.sync(app.name, env.name, actor=actor, _rollout=True)
        rollout.phase, rollout.weight, rollout.message = ABORTED, 0, reason or why
        return self._save(env, rollout, f"aborted: {reason or why}; all traffic is back on {rollout.stable_version}")

    # ------------------------------------------------------------ manual controls

    def promote(self, app_name: str, env_name: str, *, full: bool = False, actor: str) -> Rollout:
        app, env, rollout = self._in_progress(app_name, env_name)
        rollout.paused_by_hand = False
        if full:
            rollout.promote_full = True
            return self._save(env, rollout, f"{actor} promoted fully, skipping the remaining steps")
        steps = app.canary.steps if app.canary else ()
        current = steps[rollout.step] if rollout.step < len(steps) else None
        if current is not None and (current.pause is not None or current.pause_indefinitely or rollout.phase == PAUSED):
            return self._advance(env, rollout, f"promoted past the pause by {actor}")
        return self._save(env, rollout, f"{actor} resumed the rollout")

    def retry(self, app_name: str, env_name: str, *, actor: str, wait: bool = False, timeout: float = 300.0):
        """Deploy an aborted rollout's version again: a new commit and a new rollout, under the same policy."""
        app, env = self.engine.resolve(app_name, env_name)
        last = records.read(self.engine.cluster(env), app.name, env.name, env.namespace)
        if last is None or last.phase != ABORTED:
            raise PolicyError(f"{app.name} in {env.name} has no aborted rollout to retry")
        return self.engine.deploy(app.name, env.name, last.canary_version, actor=actor, wait=wait, timeout=timeout)

    def pause(self, app_name: str, env_name: str, *, actor: str) -> Rollout:
        app, env, rollout = self._in_progress(app_name, env_name)
        rollout.paused_by_hand, rollout.phase = True, PAUSED
        return self._save(env, rollout, f"paused by {actor}")

    def resume(self, app_name: str, env_name: str, *, actor: str) -> Rollout:
        app, env, rollout = self._in_progress(app_name, env_name)
        rollout.paused_by_hand, rollout.phase = False, PROGRESSING
        return self._save(env, rollout, f"resumed by {actor}")

    def tracks(
        self, app_name: str, env_name: str, seconds: float = 120.0
    ) -> dict[str, tuple[list[float], list[float]]]:
        """Each analysis metric of the app over the last ``seconds``, canary and stable side by side (for plots).

        Only templates whose query names the track can be split; a query that fails gives empty series.
        """
        app, env = self.engine.resolve(app_name, env_name)
        steps = app.canary.steps if app.canary else ()
        names = [s.analysis for s in steps if s.analysis] + [n for s in steps for n in s.judge]
        names += list(app.canary.background_analysis if app.canary else ())
        variables = _variables(app, env)
        series = {}
        for name in dict.fromkeys(names):
            template = self.engine.config.analysis[name]
            if "{{track}}" not in template.query:
                continue
            provider = provider_for(template, self.engine.config)
            step = max(1.0, template.interval)
            pair = []
            for track in ("canary", "stable"):
                try:
                    pair.append(
                        provider.samples(render_query(template.query, {**variables, "track": track}), seconds, step)
                    )
                except ProviderError:
                    pair.append([])
            series[name] = (pair[0], pair[1])
        return series

    def drive(self, app_name: str, env_name: str, *, timeout: float, interval: float = 0.5) -> Rollout | None:
        """Reconcile until the rollout ends (or ``timeout``): what ``deploy --wait`` does."""
        import time

        deadline = time.monotonic() + timeout
        rollout = self.get(app_name, env_name)
        while rollout is not None and rollout.active and time.monotonic() < deadline:
            before = rollout.resource_version
            try:
                rollout = self.reconcile(app_name, env_name) or self.get(app_name, env_name)
            except PolicyError:
                rollout = self.get(app_name, env_name)  # another controller acted; read again
            if rollout is not None and rollout.active and rollout.resource_version == before:
                time.sleep(interval)  # nothing changed: wait; after a change, act again at once
        return rollout


def _variables(app: App, env: Environment) -> dict[str, str]:
    """What an analysis query's placeholders are filled with (``track`` is added per measurement)."""
    return {
        "app": app.name,
        "env": env.name,
        "namespace": env.namespace,
        "canary": canary_name(app.name),
        "stable": app.name,
    }


def _measured_at(measurement: Any) -> datetime:
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(measurement.at, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return datetime.min.replace(tzinfo=UTC)


def _last_reason(measurements: list[Any]) -> str:
    """The numbers of the last failed measurement (``0.91 < 0.99``), or why the last one could not be taken."""
    for m in reversed(measurements):
        if m.phase in (FAILED, ERROR):
            return m.message if m.phase == FAILED else f"could not be measured ({m.message})"
    return ""


def _repository(workload: dict[str, Any], container: str) -> str | None:
    for c in workload["spec"]["template"]["spec"].get("containers") or []:
        if c.get("name") == container:
            return image_repository(str(c.get("image", "")))
    return None


def _crashlooping(cluster: Any, namespace: str, canary: dict[str, Any]) -> bool:
    pods = cluster.list("v1", "Pod", namespace, label_selector=f"{TRACK_LABEL}=canary")
    owner_prefix = canary["metadata"]["name"] + "-"
    return any(
        ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
        for pod in pods
        if pod["metadata"]["name"].startswith(owner_prefix)
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
    )
