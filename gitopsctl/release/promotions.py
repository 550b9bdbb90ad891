"""Deploys, approvals and rollbacks: every one a Git commit, carried out under the app/environment's lock.

A deploy is planned first (``plan.py``: every policy check); environments that
need approval get a pending request (``requests.py``) that listed approvers
accept or reject, never the requester. Then, under the lock, the image tag is
committed (with ``Deployed-by`` / ``Approved-by`` trailers) and synced, or a
canary rollout starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster import quarantine
from ..cluster.health import HEALTHY
from ..cluster.locks import Locks
from ..config import App, Environment
from ..errors import PolicyError
from ..identity import SLACK, as_actor, same_person
from ..source.images import check_version, set_version
from . import policy
from .deliveries import Deliveries
from .freezes import Freezes
from .incident_mode import IncidentModes
from .plan import Plan, Planner
from .requests import PENDING, STAMP, Request, Requests, _now

if TYPE_CHECKING:
    from ..cluster.client import Cluster
    from ..engine import Engine, SyncResult

DEPLOYED, FAILED, UNCHANGED = "Deployed", "Failed", "Unchanged"
PROGRESSING, ABORTED = "Progressing", "Aborted"


@dataclass
class DeployResult:
    app: str
    env: str
    status: str  # Deployed | PendingApproval | Failed | Unchanged
    version: str
    previous: str | None
    commit: str | None = None
    sync: SyncResult | None = None
    request: Request | None = None
    message: str = ""
    rollout: Any = None
    plan: Plan | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "status": self.status,
            "version": self.version,
            "previous": self.previous,
            "commit": self.commit,
            "message": self.message,
            "health": self.sync.health if self.sync else None,
            "rollout_phase": self.rollout.phase if self.rollout else None,
            "request": asdict(self.request) if self.request else None,
        }


class Promotions:
    """The release service: the planner, the requests and the freezes, and what carries a deploy out."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.requests = Requests(engine)
        self.freezes = Freezes(engine)
        self.incidents = IncidentModes(engine)
        self.deliveries = Deliveries(engine, self.requests, self.freezes, self.incidents)
        self.planner = Planner(engine, self.requests, self.freezes, self.deliveries)

    def pending(self, app: App, env: Environment) -> Request | None:
        return self.requests.pending(app, env)

    def manual_freeze(self, env: Environment, reads: Cluster | None = None) -> policy.Freeze | None:
        return self.freezes.manual(env, reads)

    def expire(self, *, approval_ttl: float) -> list[str]:
        """End requests older than ``approval_ttl`` seconds, and lift manual freezes that have ended."""
        return self.requests.expire(approval_ttl) + self.freezes.expire()

    def deploy(
        self,
        app_name: str,
        env_name: str,
        version: str | None,
        *,
        actor: str,
        break_glass: bool = False,
        reason: str = "",
        timeout: float = 300.0,
        wait: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> DeployResult:
        plan = self.planner.plan(app_name, env_name, version, actor=actor, break_glass=break_glass, reason=reason)
        app, env = self.engine.resolve(plan.app, plan.env)
        version, previous, required = plan.version, plan.previous, plan.approvals_required
        if required:
            existing = self.requests.pending(app, env)
            if existing is not None:  # the same person asking again for the same version: the same request
                return DeployResult(
                    app.name,
                    env.name,
                    PENDING,
                    version,
                    previous,
                    request=existing,
                    message=f"waiting for {existing.required - len(existing.approvals)} approval(s) from {plan.approvers}",
                    plan=plan,
                )
            request = Request(
                uuid.uuid4().hex[:12],
                app.name,
                env.name,
                version,
                previous,
                actor,
                _now().strftime(STAMP),
                required,
                plan.break_glass,
                reason,
            )
            self.requests.save(env, request, replace=False)
            return DeployResult(
                app.name,
                env.name,
                PENDING,
                version,
                previous,
                request=request,
                message=f"waiting for {required} approval(s) from {plan.approvers}",
                plan=plan,
            )
        result = self._execute(
            app,
            env,
            version,
            actor=actor,
            approvers=[],
            timeout=timeout,
            kind="Deploy",
            wait=wait,
            progress=progress,
            incident=plan.incident,
        )
        result.plan = plan
        return result

    def approve(
        self,
        app_name: str,
        env_name: str,
        *,
        actor: str,
        request_id: str | None = None,
        version: str | None = None,
        timeout: float = 300.0,
        wait: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> DeployResult:
        """Approve the request the approver saw (``request_id``; the pending one when None): never a newer one."""
        app, env = self.engine.resolve(app_name, env_name)
        request = self.requests.bound(app, env, request_id, version)
        if request.revision:  # a Git change is never delivered inside a freeze, approved or not
            self.deliveries.refuse_frozen(env, automatic=True)
            if wrote := next((a for a in request.authors if same_person(self.engine.config, actor, a)), None):
                raise PolicyError(f"{actor} wrote a commit of this change (as {wrote}); someone else must approve it")
        what = "break-glass deploy" if request.break_glass else "deploy"
        problem = policy.approval_problem(
            self.engine.config, env, request.requester, request.approvals, actor, what=what
        )
        if problem:
            raise PolicyError(problem)
        request.approvals.append(actor)
        if len(request.approvals) < request.required:
            self.requests.save(env, request, replace=True)
            return DeployResult(
                app.name,
                env.name,
                PENDING,
                request.version,
                request.previous,
                request=request,
                message=f"approved by {', '.join(request.approvals)}; {request.required - len(request.approvals)} more needed",
            )
        # approved in Slack, the message clicked follows the deploy; approved elsewhere, the leader updates it
        self.requests.end(
            env,
            request,
            "Approved",
            f"approved by {', '.join(request.approvals)}",
            notify=as_actor(actor).source != SLACK,
        )
        if request.revision:  # a Git change: delivered as it is, by whoever asked, with these approvals
            delivered = self.deliveries.carry_out(
                app, env, request.revision, actor=request.requester, wait=wait, timeout=timeout, progress=progress
            )
            status = {"Succeeded": DEPLOYED, "Failed": FAILED}.get(delivered.result, PROGRESSING)
            return DeployResult(
                app.name,
                env.name,
                status,
                request.version,
                request.previous,
                request.revision,
                delivered if delivered.rollout is None else None,
                message=delivered.message,
                rollout=delivered.rollout,
            )
        kind = "Break-glass deploy" if request.break_glass else "Deploy"
        return self._execute(
            app,
            env,
            request.version,
            actor=request.requester,
            approvers=request.approvals,
            timeout=timeout,
            kind=kind,
            reason=request.reason,
            wait=wait,
            progress=progress,
        )

    def reject(
        self, app_name: str, env_name: str, *, actor: str, request_id: str | None = None, version: str | None = None
    ) -> Request:
        """Reject (an approver) or withdraw (the requester) the request the person saw."""
        app, env = self.engine.resolve(app_name, env_name)
        request = self.requests.bound(app, env, request_id, version)
        own = same_person(self.engine.config, actor, request.requester)
        if not own and not policy.may_approve(self.engine.config, env, actor):
            raise PolicyError(f"{actor} may not reject deploys to {env.name}; approvers: {policy.approvers_text(env)}")
        self.requests.end(
            env, request, "Withdrawn" if own else "Rejected", f"{'withdrawn' if own else 'rejected'} by {actor}"
        )
        return request

    def rollback(
        self, app_name: str, env_name: str, *, to: str | None, actor: str, timeout: float = 300.0
    ) -> DeployResult:
        """Back to the previous Healthy version (or ``to``), fast and direct, as a commit. Freezes do not block it."""
        app, env = self.engine.resolve(app_name, env_name)
        current = self.engine.status(app.name, env.name)[0].version  # what runs, not what Git holds undelivered
        self.deliveries.refuse_undelivered(app, env, "rollback")
        if to is None:
            history = self.engine.history(app.name, env.name)
            to = next(
                (
                    h.version
                    for h in history
                    if h.health == HEALTHY and h.result == "Succeeded" and h.version and h.version != current
                ),
                None,
            )
            if to is None:
                raise PolicyError(
                    f"{app.name} in {env.name} has no earlier Healthy version in its history; give one with --to"
                )
        check_version(to)
        self.deliveries.refuse_quarantined(app, [to])
        responding = self.incidents.responding(env, actor)
        result = self._execute(
            app,
            env,
            to,
            actor=actor,
            approvers=[],
            timeout=timeout,
            kind="Roll back",
            incident=responding.id if responding else "",
        )
        if current and current != to and result.status != FAILED:
            cluster, namespace = self.engine.coordination()
            why = f"rolled back to {to} by {actor}"
            quarantine.add(cluster, namespace, app.name, current, env=env.name, reason=why, by=actor)
        return result

    def _execute(
        self,
        app: App,
        env: Environment,
        version: str,
        *,
        actor: str,
        approvers: list[str],
        timeout: float,
        kind: str,
        reason: str = "",
        wait: bool = False,
        progress: Callable[[str], None] | None = None,
        incident: str = "",
    ) -> DeployResult:
        """Commit ``version`` and deliver it; ``incident``: a responder of that incident acts, which the commit says."""
        locks = Locks(self.engine.cluster(env), env.namespace)
        rollout = None
        with locks.hold(app.name, env.name, actor=actor, operation=f"{kind.lower()} {version}"):
            if (active := self.engine.rollouts.active(app, env)) is not None:
                verb = "abort it to roll back" if kind == "Roll back" else "promote or abort it first"
                raise PolicyError(
                    f"a rollout of {app.name} {active.canary_version} in {env.name} is in progress "
                    f"({active.phase}, {active.weight}% on the canary); {verb}"
                )
            previous, repository = self.planner.git_version(app, env)
            delivered = self.engine.syncs.pending(app, env).delivered  # what an abort goes back to
            commit = None
            if previous != version:
                title = (
                    f"Roll back {app.name} {env.name} to {version} (was {previous})"
                    if kind == "Roll back"
                    else f"{kind} {app.name} {version} to {env.name} (was {previous})"
                )
                trailers = {"Deployed-by": actor, "Approved-by": ", ".join(approvers), "Reason": reason}
                if incident:
                    trailers["Incident"] = f"{incident} (by a responder: no second approval, no freeze)"
                path = app.path_for(env.name)
                where = app.version_at(env.name)

                def change(root: Path) -> list[Path]:
                    return [set_version(root / path, app.container, version, repository, version_path=where).path]

                commit = self.engine.writer.commit(change, title, trailers)
            if env.strategy == "canary" and kind != "Roll back" and commit is not None and previous is not None:
                rollout = self.engine.rollouts.start(
                    app,
                    env,
                    stable_version=previous,
                    canary_version=version,
                    commit=commit,
                    actor=actor,
                    base=delivered,
                )
            else:  # the gates were passed above: the plain sync, not the engine's gated one
                sync = self.engine.syncs.sync(
                    app.name, env.name, revision=commit, wait=True, timeout=timeout, actor=actor, progress=progress
                )
        if rollout is not None:
            if wait:
                rollout = self.engine.rollouts.drive(app.name, env.name, timeout=timeout) or rollout
            status = {"Promoted": DEPLOYED, "Aborted": ABORTED, "Failed": FAILED}.get(rollout.phase, PROGRESSING)
            return DeployResult(
                app.name, env.name, status, version, previous, commit, rollout=rollout, message=rollout.message
            )
        if sync.result != "Succeeded":
            status = FAILED
        else:
            status = UNCHANGED if commit is None else DEPLOYED
        return DeployResult(app.name, env.name, status, version, previous, commit, sync, message=sync.message)
