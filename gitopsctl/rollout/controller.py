"""The rollout controller: level-triggered, like a Kubernetes controller, and the rollout's public face.

``reconcile()`` reads the record and what the cluster says (act.py), asks
``decide.next_action`` for the one thing to do, and has act.py do it and save
the record; a killed process loses nothing, and repeating an action changes
nothing. Where the canary weight is decided: decide.py.

Steps: ``set_weight`` (move traffic, wait until it really moved), ``pause`` (a
duration, or until promoted by hand), ``analysis`` (measure on an interval until
the template's count; any failure aborts), ``judge`` (canary against stable).
Canary pods that crash-loop or miss their progress deadline abort the rollout
whatever the step. The end of the steps promotes. Manual controls (promote,
pause, resume, abort) write their request into the record.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

from ..analysis.providers import ProviderError, provider_for
from ..analysis.run import render_query
from ..config import App, Environment
from ..errors import PolicyError
from ..failpoints import reach
from ..sync.hooks import PRE_ROLLOUT, PRE_SYNC
from ..sync.pending import template_digest
from . import record as records
from .act import CONFLICT_ATTEMPTS, TRACK_LABEL, Act, Notifier, analysis_variables, canary_name
from .decide import next_action, skips_step
from .record import ABORTED, PAUSED, PENDING, PROGRESSING, Rollout, RolloutChanged, now, stamp
from .steps import run as run_steps

if TYPE_CHECKING:
    from ..engine import Engine

T = TypeVar("T")
REASON_LIMIT = 200  # characters of a typed abort reason kept in the revert commit's Reason: trailer
MESSAGE_NOTES, NOTE_BYTES = 5, 4096  # notes kept per rollout, and the size of each as JSON


def _canary_of(workload: dict[str, Any]) -> dict[str, Any]:
    """The canary Deployment: Git's new pod template under its own name and track label, with no replicas yet."""
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
    return canary


def _note_problem(note: Any) -> str:
    """Why a front end's note cannot be kept (it is stored in the rollout record), or ""."""
    if not isinstance(note, dict) or not note:
        return "it must be a non-empty mapping"
    for key, value in note.items():
        scalar = value is None or isinstance(value, (str, bool, int))
        if not isinstance(key, str) or not (
            scalar or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            return f"{key!r} must name text, a number, a flag or a list of text"
    if len(json.dumps(note)) > NOTE_BYTES:
        return f"it is over {NOTE_BYTES} bytes"
    return ""


class Rollouts:
    def __init__(self, engine: Engine, notify: Notifier | None = None) -> None:
        self.engine = engine
        self.act = Act(engine, notify or (lambda rollout, text: None))

    def get(self, app_name: str, env_name: str) -> Rollout | None:
        app, env = self.engine.resolve(app_name, env_name)
        return records.read(self.engine.cluster(env), app.name, env.name, env.namespace)

    def active(self, app: App, env: Environment) -> Rollout | None:
        return self.act.active(app, env)

    # ------------------------------------------------------------ start

    def start(
        self,
        app: App,
        env: Environment,
        *,
        stable_version: str,
        canary_version: str,
        commit: str,
        actor: str,
        base: str | None = None,
        change: str = "",
    ) -> Rollout:
        """Create the canary from Git's manifests at ``commit`` (the new pod template) with no traffic, and the record;
        first, when there are any, the pre-rollout steps (a failure aborts). The caller holds the app's lock.

        ``base`` is the revision delivered before: an abort syncs back to it. ``change`` (a Git change's commit
        title) makes an abort undo exactly that change below the app's path, rather than set the version back.
        """
        workload = self.act.workload(app, env, commit)
        previous = records.read(self.engine.cluster(env), app.name, env.name, env.namespace)
        hooks = self.engine.workspace.hooks(app, env, commit)
        steps = bool(app.canary and app.canary.pre_rollout) or any(PRE_ROLLOUT in h.phases for h in hooks)
        rollout = Rollout(
            app.name,
            env.name,
            PENDING if steps else PROGRESSING,
            stable_version,
            canary_version,
            commit,
            actor,
            stamp(now()),
            step_started_at=stamp(now()),
            base_commit=base,
            change=change,
            template=template_digest(workload),
        )
        rollout.resource_version = previous.resource_version if previous else None
        rollout.replacing(previous)
        started = f"rollout of {app.name} {canary_version} to {env.name} started by {actor}"
        if late := sorted({h.source_name for h in hooks if PRE_SYNC in h.phases and PRE_ROLLOUT not in h.phases}):
            # from Argo CD a migration is a PreSync hook: here it would run only after the canary served traffic
            started += (
                f"; its PreSync hooks ({', '.join(late)}) run at the promotion, after the canary has served "
                "traffic: a step the canary needs first is a PreRollout hook"
            )
        if steps:  # the record first, so that an abort (or the controller, if this process dies) finds it
            rollout = self.act.save(env, rollout, f"{started}; running its pre-rollout steps")
            if (why := run_steps(self.engine, app, env, rollout, PRE_ROLLOUT, self.act.notify)) is not None:
                rollout = self.act.save(env, rollout)
                return self.act.abort_held(app.name, env.name, why=f"a pre-rollout step failed: {why}", actor=actor)
        self.engine.cluster(env).apply(_canary_of(workload))
        reach("canary-created")
        if steps:
            rollout.phase, rollout.step_started_at = PROGRESSING, stamp(now())
            return self.act.save(env, rollout, "pre-rollout steps passed; the canary is created")
        return self.act.save(env, rollout, started)

    # ------------------------------------------------------------ reconcile

    def reconcile(self, app_name: str, env_name: str) -> Rollout | None:
        app, env = self.engine.resolve(app_name, env_name)
        rollout = self.act.active(app, env)
        if rollout is None:
            return None
        stable = self.act.workload(app, env, rollout.deploy_commit)
        router = self.act.router(app, env, stable)
        observed = self.act.observe(env, stable, router, rollout.weight)
        canary = app.canary
        action = next_action(
            rollout,
            canary.steps if canary else (),
            observed,
            now(),
            background=canary.background_analysis if canary else (),
            templates=self.engine.config.analysis,
        )
        return self.act.carry_out(app, env, rollout, router, action)

    # ------------------------------------------------------------ manual controls

    def abort(self, app_name: str, env_name: str, *, reason: str = "", actor: str = "gitopsctl") -> Rollout:
        """Aborted by hand: the revert's title is ours ("aborted by <actor>"), never what was typed.

        ``reason`` (typed in Slack or a terminal) goes in a ``Reason:`` trailer, on one line and capped,
        so it can neither pose as gitopsctl's own words nor forge a trailer.
        """
        typed = " ".join(reason.split())
        typed = typed if len(typed) <= REASON_LIMIT else typed[: REASON_LIMIT - 1] + "…"
        return self._by_hand(
            lambda: self.act.abort(app_name, env_name, why=f"aborted by {actor}", reason=typed, actor=actor)
        )

    def _by_hand(self, change: Callable[[], T]) -> T:
        """A change by hand races the controller's writes to the same record: read again and retry it."""
        for _ in range(CONFLICT_ATTEMPTS - 1):
            try:
                return change()
            except RolloutChanged:
                continue
        return change()

    def promote(self, app_name: str, env_name: str, *, full: bool = False, actor: str) -> Rollout:
        return self._by_hand(lambda: self._promote(app_name, env_name, full=full, actor=actor))

    def _promote(self, app_name: str, env_name: str, *, full: bool, actor: str) -> Rollout:
        app, env, rollout = self.act.in_progress(app_name, env_name)
        rollout.paused_by_hand = False
        if full:
            rollout.promote_full = True
            return self.act.save(env, rollout, f"{actor} promoted fully, skipping the remaining steps")
        if skips_step(rollout, app.canary.steps if app.canary else ()):
            return self.act.advance(env, rollout, f"promoted past the pause by {actor}")
        return self.act.save(env, rollout, f"{actor} resumed the rollout")

    def retry(self, app_name: str, env_name: str, *, actor: str, wait: bool = False, timeout: float = 300.0):
        """Deploy an aborted rollout's version again: a new commit and a new rollout, under the same policy."""
        app, env = self.engine.resolve(app_name, env_name)
        last = records.read(self.engine.cluster(env), app.name, env.name, env.namespace)
        if last is None or last.phase != ABORTED:
            raise PolicyError(f"{app.name} in {env.name} has no aborted rollout to retry")
        return self.engine.deploy(app.name, env.name, last.canary_version, actor=actor, wait=wait, timeout=timeout)

    # ------------------------------------------------------------ where front ends show it

    def note_message(self, app_name: str, env_name: str, commit: str, note: dict[str, Any]) -> None:
        """Remember where a front end shows the rollout of ``commit`` (a newer rollout is left alone), so that
        the leader can bring that message to the rollout's end if the process that posted it dies."""
        problem = _note_problem(note)
        if problem:
            raise PolicyError(f"a message note of {app_name} in {env_name} was refused: {problem}")

        def change() -> Rollout | None:
            app, env = self.engine.resolve(app_name, env_name)
            rollout = records.read(self.engine.cluster(env), app.name, env.name, env.namespace)
            if rollout is None:
                return None
            if rollout.deploy_commit == commit:
                if note in rollout.messages:
                    return rollout
                rollout.messages = [*rollout.messages, note][-MESSAGE_NOTES:]
            else:  # posted after a newer rollout replaced it: noted with how it ended
                entry = next((e for e in rollout.earlier if e.get("deploy_commit") == commit), None)
                if entry is None or note in entry.get("notes", []):
                    return rollout
                entry["notes"] = [*entry.get("notes", []), note][-MESSAGE_NOTES:]
            rollout.messages_settled = False
            return self.act.save(env, rollout)

        self._by_hand(change)

    def shown(self) -> list[Rollout]:
        """Rollouts (running or ended) whose messages do not show their end yet; one LIST per environment."""
        found = []
        for env in self.engine.config.environments.values():
            if env.strategy != "canary":
                continue
            records_here = records.read_all(self.engine.cluster(env), env.namespace)
            found += [
                r
                for r in records_here.values()
                if (r.messages or any(e.get("notes") for e in r.earlier)) and not r.messages_settled
            ]
        return found

    def settle_messages(self, shown: Rollout, commits: Collection[str]) -> None:
        """The notes of ``shown`` (and of those it replaced) whose rollout is in ``commits`` show its end: the
        leader stops updating them. A note added since ``shown`` was read is kept, to be shown."""
        seen = {shown.deploy_commit: shown.messages} | {
            e.get("deploy_commit"): e.get("notes") or [] for e in shown.earlier
        }

        def change() -> Rollout | None:
            app, env = self.engine.resolve(shown.app, shown.env)
            current = records.read(self.engine.cluster(env), app.name, env.name, env.namespace)
            if current is None:
                return None
            changed = False
            ended_here = current.deploy_commit in commits and not current.active and not current.messages_settled
            if ended_here and all(note in seen.get(current.deploy_commit, []) for note in current.messages):
                current.messages_settled = changed = True
            for entry in current.earlier:
                commit, notes = entry.get("deploy_commit"), entry.get("notes") or []
                if commit in commits and notes:
                    kept = [note for note in notes if note not in seen.get(commit, [])]
                    if kept != notes:
                        entry["notes"], changed = kept, True
            return self.act.save(env, current) if changed else current

        self._by_hand(change)

    def pause(self, app_name: str, env_name: str, *, actor: str) -> Rollout:
        def change() -> Rollout:
            app, env, rollout = self.act.in_progress(app_name, env_name)
            rollout.paused_by_hand, rollout.phase = True, PAUSED
            return self.act.save(env, rollout, f"paused by {actor}")

        return self._by_hand(change)

    def resume(self, app_name: str, env_name: str, *, actor: str) -> Rollout:
        def change() -> Rollout:
            app, env, rollout = self.act.in_progress(app_name, env_name)
            rollout.paused_by_hand, rollout.phase = False, PROGRESSING
            return self.act.save(env, rollout, f"resumed by {actor}")

        return self._by_hand(change)

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
        variables = analysis_variables(app, env)
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
