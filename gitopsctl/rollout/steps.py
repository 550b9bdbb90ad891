"""A canary's PreRollout and PostPromotion steps: the phase's hook Jobs from Git, then its configured webhooks.

Like Flagger's pre-rollout and post-rollout webhooks: the first that fails stops the rest and the caller
aborts the rollout; every step's outcome is noted in the record as an event, so the console and Slack
thread show it where the rollout's other steps are, and told to the engine's subscribers (the demo's log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import App, Environment
from ..sync.hooks import PRE_ROLLOUT, HookRun, PhaseRunner
from . import webhooks
from .record import Rollout, now, stamp

if TYPE_CHECKING:
    from ..engine import Engine

STEP_TIMEOUT = 600.0  # the longest a pre-rollout or post-promotion hook Job may run
log = logging.getLogger(__name__)
Notifier = Callable[[Rollout, str], None]


def run(engine: Engine, app: App, env: Environment, rollout: Rollout, phase: str, notify: Notifier) -> str | None:
    """The phase's hook Jobs in Git at the deploy commit, then its webhooks in order, each noted in the record
    (saved by the caller) and told to ``notify``. Why the first failed, or None."""
    hooks = engine.workspace.hooks(app, env, rollout.deploy_commit)
    runner = PhaseRunner(engine.cluster(env), log.info, STEP_TIMEOUT, engine.config.health)
    failed = runner.phase(phase, hooks)
    note_hooks(rollout, runner.runs, notify)
    if failed is not None:
        return f"{phase} hook {failed.ref} failed: {failed.message}"
    canary = app.canary
    configured = (canary.pre_rollout if phase == PRE_ROLLOUT else canary.post_promotion) if canary else ()
    payload = {
        "app": app.name,
        "env": env.name,
        "namespace": env.namespace,
        "phase": phase,
        "version": rollout.canary_version,
        "stable_version": rollout.stable_version,
        "revision": rollout.deploy_commit,
        "actor": rollout.actor,
    }
    for hook in configured:
        why = webhooks.call(hook, payload)
        _say(rollout, f"{phase} webhook {hook.url} " + ("passed" if why is None else "failed"), notify)
        if why is not None:
            return f"{phase} webhook {why}"
    return None


def note_hooks(rollout: Rollout, runs: list[HookRun], notify: Notifier) -> None:
    """Each hook Job's outcome as a rollout event: what the console's events and the Slack thread list."""
    for run_ in runs:
        text = f"{run_.phase} hook {run_.ref.kind} {run_.ref.name} {run_.result.lower()} in {run_.seconds:.0f}s"
        _say(rollout, text + (f": {run_.message}" if run_.result == "Failed" else ""), notify)


def _say(rollout: Rollout, text: str, notify: Notifier) -> None:
    rollout.note(text, stamp(now()))
    notify(rollout, text)
