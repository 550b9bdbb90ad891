"""Delivering a Git change: every path that changes what runs goes through the same gates.

A sync that would deliver commits not delivered yet (``gitopsctl sync``,
``/gitops sync``, Sync in the console, and the leader in an ``auto``
environment) meets, in this order: the quarantine (a version or pod template
that failed before is refused, quoting its numbers), incident mode (the leader
delivers nothing while the environment is in one; a responder passes the
freezes and approvals), freeze windows, the app's lock and a rollout in
progress, then approvals (a request is raised for the
commit; a change that only relabels objects skips them). Then, under the lock:
in a ``canary`` environment, a change to the pod template of the app's
Deployment starts a canary of the new template; anything else is synced.
A sync that delivers nothing new (Git's render equals what was delivered) only
puts live state back: none of these gates apply to it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..cluster import quarantine
from ..cluster.locks import Locks
from ..config import App, Environment
from ..errors import PolicyError
from ..source.manifests import find_version
from ..sync.pending import Pending, changes_what_runs, template_digest, workload
from ..sync.prepare import BoundaryError
from ..sync.service import SyncResult
from . import policy
from .freezes import Freezes
from .incident_mode import IncidentModes
from .requests import PENDING, STAMP, Request, Requests

if TYPE_CHECKING:
    from ..engine import Engine

PROGRESSING = "Progressing"


@dataclass(frozen=True)
class Change:
    """What delivering ``wanted`` would change, known before anything is written."""

    version: str | None  # the app's image tag at the wanted revision
    previous: str | None  # the tag delivered before
    template: str  # the digest of the wanted pod template
    runs: bool  # changes what runs (anything beyond labels and annotations)
    canary: bool  # delivered as a canary rollout

    @property
    def names(self) -> list[str]:
        """What the quarantine may know this change by: a new tag, and always its pod template."""
        tag = [self.version] if self.version and self.version != self.previous else []
        return tag + [quarantine.template_version(self.template)]

    @property
    def shown(self) -> str:
        if self.version and self.version != self.previous:
            return self.version
        return f"{self.version or '-'} (pod template {self.template})"


def _now() -> datetime:
    return datetime.now(UTC)


class Deliveries:
    def __init__(self, engine: Engine, requests: Requests, freezes: Freezes, incidents: IncidentModes) -> None:
        self.engine = engine
        self.requests = requests
        self.freezes = freezes
        self.incidents = incidents

    # ------------------------------------------------------------ reading a change

    def change_of(self, app: App, env: Environment, wanted: Pending) -> Change:
        workspace = self.engine.workspace
        try:
            before = workspace.desired(app, env, wanted.delivered)[1] if wanted.delivered else []
        except BoundaryError:  # what ran no longer passes the boundary (the configuration changed): no baseline
            before = []
        after = workspace.desired(app, env, wanted.wanted)[1]
        old, new = workload(before, app.container), workload(after, app.container)
        changed_template = old is not None and new is not None and old["spec"]["template"] != new["spec"]["template"]
        previous = find_version(before, app.container) if before else None
        return Change(
            find_version(after, app.container),
            previous,
            template_digest(new),
            changes_what_runs(before, after),
            env.strategy == "canary" and changed_template and previous is not None,
        )

    def quarantined(self, app: App, names: list[str]) -> quarantine.Quarantined | None:
        cluster, namespace = self.engine.coordination()
        return quarantine.find(quarantine.read_all(cluster, namespace), app.name, names)

    def refuse_quarantined(self, app: App, names: list[str]) -> None:
        entry = self.quarantined(app, names)
        if entry is not None:
            raise PolicyError(
                f"{entry.describe()}; lift it with gitopsctl unquarantine {app.name} {entry.version} --reason TEXT"
            )

    def refuse_frozen(self, env: Environment, *, automatic: bool) -> None:
        freeze = policy.active_freeze(env, _now(), self.freezes.manual(env))
        if freeze is not None:
            until = f" until {freeze.until:%a %H:%M %Z}" if freeze.until else ""
            then = (
                "it is delivered when the window ends"
                if automatic
                else "sync it after the window, or deploy with --break-glass --reason TEXT"
            )
            raise PolicyError(
                f"{env.name} is frozen ({freeze.name}{': ' + freeze.reason if freeze.reason else ''}){until}; {then}"
            )

    def refuse_undelivered(self, app: App, env: Environment, what: str) -> None:
        """A deploy or rollback commits on Git's head: it would carry undelivered commits past their gates."""
        wanted = self.engine.syncs.pending(app, env)
        if wanted.changed and wanted.delivered is not None:
            first = wanted.commits[0] if wanted.commits else None
            shown = f' ({first.sha[:12]} "{first.title}" by {first.author})' if first else ""
            raise PolicyError(
                f"{app.name} in {env.name} has {len(wanted.commits) or 'some'} commit(s) in Git not delivered yet"
                f"{shown}; a {what} would deliver them without their gates: sync them first "
                f"(gitopsctl sync {app.name} {env.name}) or revert them in Git"
            )

    # ------------------------------------------------------------ the gates

    def deliver(
        self,
        app: App,
        env: Environment,
        wanted: Pending,
        *,
        actor: str,
        requester: str | None = None,
        automatic: bool = False,
        prune: bool = True,
        allow_empty: bool = False,
        wait: bool = False,
        timeout: float = 300.0,
        progress: Callable[[str], None] | None = None,
    ) -> SyncResult:
        """Deliver ``wanted`` through the gates; a refusal is a PolicyError naming the gate."""
        change = self.change_of(app, env, wanted)
        self.refuse_quarantined(app, change.names)
        if automatic:
            self.incidents.refuse_automatic(env, "the leader's delivery of Git changes")
        who = requester or actor
        responding = None if automatic else self.incidents.responding(env, who)
        if responding is None:
            self.refuse_frozen(env, automatic=automatic)
        if change.runs and env.approval.required and responding is None:
            return self._ask(app, env, wanted, change, who, automatic)
        return self.carry_out(
            app,
            env,
            wanted.wanted,
            actor=who,
            prune=prune,
            allow_empty=allow_empty,
            wait=wait,
            timeout=timeout,
            progress=progress,
        )

    def _ask(
        self, app: App, env: Environment, wanted: Pending, change: Change, requester: str, automatic: bool
    ) -> SyncResult:
        """Raise (or find) the request for this commit; an older Git change's request is replaced by it."""
        existing = self.requests.pending(app, env)
        if existing is not None and existing.revision != wanted.wanted:
            if automatic and existing.revision:
                self.requests.end(env, existing, "Superseded", f"superseded by {wanted.wanted[:12]}")
            else:
                raise PolicyError(f"a {existing.describe()} is already pending; approve or reject it first")
        elif existing is not None:
            return _waiting(app, env, wanted, change, existing)
        request = Request(
            uuid.uuid4().hex[:12],
            app.name,
            env.name,
            change.shown,
            change.previous,
            requester,
            _now().strftime(STAMP),
            env.approval.required,
            revision=wanted.wanted,
            change=wanted.commits[0].title if wanted.commits else "",
            authors=list(dict.fromkeys(a for c in wanted.commits for a in c.authors)),
        )
        self.requests.save(env, request, replace=False)
        return _waiting(app, env, wanted, change, request)

    # ------------------------------------------------------------ carrying it out

    def carry_out(
        self,
        app: App,
        env: Environment,
        revision: str,
        *,
        actor: str,
        prune: bool = True,
        allow_empty: bool = False,
        wait: bool = False,
        timeout: float = 300.0,
        progress: Callable[[str], None] | None = None,
    ) -> SyncResult:
        """Under the lock: a canary of the new pod template, or a sync; what the gates let through (or approved)."""
        engine = self.engine
        rollout = None
        with Locks(engine.cluster(env), env.namespace).hold(
            app.name, env.name, actor=actor, operation=f"deliver {revision[:12]}"
        ):
            if (active := engine.rollouts.active(app, env)) is not None:
                raise PolicyError(
                    f"a rollout of {app.name} {active.canary_version} in {env.name} is in progress "
                    f"({active.phase}, {active.weight}% on the canary); promote or abort it first"
                )
            wanted = engine.syncs.pending(app, env, revision)  # again, under the lock: someone may have delivered
            change = self.change_of(app, env, wanted)
            self.refuse_quarantined(app, change.names)
            if wanted.changed and change.canary:
                title = wanted.commits[0].title if wanted.commits else revision[:12]
                rollout = engine.rollouts.start(
                    app,
                    env,
                    stable_version=change.previous or "",
                    canary_version=change.version or "",
                    commit=revision,
                    actor=actor,
                    base=wanted.delivered,
                    change=title,
                )
            else:
                result = engine.syncs.sync(
                    app.name,
                    env.name,
                    revision=revision,
                    prune=prune,
                    allow_empty=allow_empty,
                    wait=wait,
                    timeout=timeout,
                    actor=actor,
                    progress=progress,
                )
                result.commits = list(wanted.commits)
                return result
        if wait:
            rollout = engine.rollouts.drive(app.name, env.name, timeout=timeout) or rollout
        else:  # take the first step now (the first weight) rather than at the controller's next pass
            with contextlib.suppress(PolicyError):  # the controller acted first: its pass is as good
                rollout = engine.rollouts.reconcile(app.name, env.name) or rollout
        phase = rollout.phase
        return SyncResult(
            app.name,
            env.name,
            revision,
            "Succeeded" if phase == "Promoted" else "Failed" if phase in ("Aborted", "Failed") else PROGRESSING,
            version=change.version,
            rollout=rollout,
            commits=list(wanted.commits),
            message=rollout.message or f"canary of {change.shown} started",
        )


def _waiting(app: App, env: Environment, wanted: Pending, change: Change, request: Request) -> SyncResult:
    """A Git change waiting on ``request``: what every path that asked (or asked again) answers."""
    return SyncResult(
        app.name,
        env.name,
        wanted.wanted,
        PENDING,
        version=change.version,
        request=request,
        commits=list(wanted.commits),
        message=f"waiting for {request.required - len(request.approvals)} approval(s) from "
        f"{policy.approvers_text(env)}",
    )
