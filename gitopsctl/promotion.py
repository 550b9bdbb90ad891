"""Deploys, approvals, rollbacks and freezes: every one a Git commit or a record in the cluster.

Policy is checked before anything is written: the version is a valid tag; where
required it ran Healthy upstream; a frozen environment needs a break-glass
override approved by a second person; environments that need approval get a
pending request that listed approvers accept or reject, never the requester.
Then, under the app/environment's lock, the image tag is committed (with
``Deployed-by`` / ``Approved-by`` trailers) and synced.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException

from . import policy
from .cluster.client import message_of
from .cluster.health import HEALTHY
from .cluster.locks import Locks
from .config import App, Environment
from .errors import ClusterError, PolicyError, UsageError
from .identity import SLACK, as_actor, same_person
from .source.images import check_version, set_version
from .source.manifests import find_version, image_repository

if TYPE_CHECKING:
    from .engine import Engine, SyncResult

REQUEST_LABEL = "gitopsctl.io/request"
ENDED_LABEL = "gitopsctl.io/request-ended"
FREEZE_LABEL = "gitopsctl.io/freeze"
DEPLOYED, PENDING, FAILED, UNCHANGED = "Deployed", "PendingApproval", "Failed", "Unchanged"
PROGRESSING, ABORTED = "Progressing", "Aborted"


@dataclass
class Request:
    """A deploy (or a break-glass override of a freeze) waiting for approval."""

    id: str
    app: str
    env: str
    version: str
    previous: str | None
    requester: str
    requested_at: str
    required: int
    break_glass: bool = False
    reason: str = ""
    approvals: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)  # where front ends show it: {"channel", "ts"}
    state: str = PENDING  # PendingApproval | Approved | Rejected | Withdrawn | Expired
    ended: str = ""  # how it ended, in words: "rejected by bob (U0B0B)"

    def describe(self) -> str:
        what = "break-glass deploy" if self.break_glass else "deploy"
        return f"{what} of {self.app} {self.version} to {self.env} requested by {self.requester} at {self.requested_at}"


@dataclass(frozen=True)
class Plan:
    """What a deploy will do, known before anything is written: what the bot and the console show first."""

    app: str
    env: str
    version: str
    previous: str | None
    strategy: str  # direct | canary
    steps: tuple[str, ...]
    approvals_required: int
    approvers: str
    break_glass: bool
    reason: str = ""


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


def request_of(cm: dict[str, Any]) -> Request:
    """The request kept in a ``gitopsctl-request-*`` ConfigMap."""
    return Request(**json.loads((cm.get("data") or {}).get("request", "{}")))


def _now() -> datetime:
    return datetime.now(UTC)


def _cm(name: str, namespace: str, labels: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": data,
    }


class Promotions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------ records

    def _request_name(self, app: str, env: str) -> str:
        return f"gitopsctl-request-{app}-{env}"

    def pending(self, app: App, env: Environment) -> Request | None:
        cm = self.engine.cluster(env).get("v1", "ConfigMap", self._request_name(app.name, env.name), env.namespace)
        return request_of(cm) if cm else None

    def bound(self, app: App, env: Environment, request_id: str | None, version: str | None = None) -> Request:
        """The pending request, refused unless it is the one the person saw (by id, and version when given).

        An old Approve button, or a command typed while another request replaced
        the one read, must never act on whatever is pending now.
        """
        request = self.pending(app, env)
        seen = f"that request ({version})" if version else "that request" if request_id else None
        if request is None:
            if seen:
                raise PolicyError(
                    f"{seen} for {app.name} in {env.name} is no longer pending: it was approved, rejected or expired"
                )
            raise UsageError(f"there is no pending request for {app.name} in {env.name}")
        if (request_id and request.id != request_id) or (version and request.version != version):
            raise PolicyError(
                f"{seen or 'that request'} expired or was replaced; the pending one is {request.version}, "
                f"asked by {request.requester} (request {request.id}); look at it before you decide"
            )
        return request

    def note_message(self, app_name: str, env_name: str, request_id: str, channel: str, ts: str) -> None:
        """Remember where a front end shows a request, so its buttons go when the request ends, whoever ends it."""
        app, env = self.engine.resolve(app_name, env_name)
        request = self.bound(app, env, request_id)
        request.messages.append({"channel": channel, "ts": ts})
        self._save_request(env, request, replace=True)

    def _end(self, env: Environment, request: Request, state: str, how: str, *, notify: bool = True) -> None:
        """Drop the pending request; one shown somewhere is kept as ended until its messages are updated."""
        request.state, request.ended = state, how
        if request.messages and notify:
            cluster = self.engine.cluster(env)
            cluster.create(
                _cm(
                    f"gitopsctl-request-ended-{request.id}",
                    env.namespace,
                    {ENDED_LABEL: "true", "gitopsctl.io/app": request.app, "gitopsctl.io/env": request.env},
                    {"request": json.dumps(asdict(request))},
                )
            )
        self._drop_request(request.app, env)

    def ended(self) -> list[Request]:
        """Requests that ended (approved, rejected, withdrawn, expired) whose messages still show buttons."""
        found = []
        for env in self._namespaces():
            for cm in self.engine.cluster(env).list("v1", "ConfigMap", env.namespace, label_selector=ENDED_LABEL):
                found.append(request_of(cm))
        return found

    def forget(self, request: Request) -> None:
        env = self._env(request.env)
        self.engine.cluster(env).delete("v1", "ConfigMap", f"gitopsctl-request-ended-{request.id}", env.namespace)

    def _namespaces(self) -> list[Environment]:
        """One environment per (cluster, namespace): requests of environments sharing one are listed once."""
        seen, out = set(), []
        for env in self.engine.config.environments.values():
            key = (env.context, env.kubeconfig, env.namespace)
            if key not in seen:
                seen.add(key)
                out.append(env)
        return out

    def _save_request(self, env: Environment, request: Request, replace: bool) -> None:
        cluster = self.engine.cluster(env)
        body = _cm(
            self._request_name(request.app, request.env),
            env.namespace,
            {REQUEST_LABEL: "deploy", "gitopsctl.io/app": request.app, "gitopsctl.io/env": request.env},
            {"request": json.dumps(asdict(request))},
        )
        cluster.ensure_namespace(env.namespace)
        try:
            if replace:
                current = cluster.get("v1", "ConfigMap", body["metadata"]["name"], env.namespace)
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"] if current else None
                cluster.replace(body)
            else:
                cluster.create(body)
        except ApiException as e:
            if e.status == 409:
                raise PolicyError(
                    f"another request for {request.app} in {request.env} was made at the same moment; look at it and try again"
                ) from e
            raise ClusterError(f"cannot save the request: {message_of(e)}") from e

    def _drop_request(self, app: str, env: Environment) -> None:
        self.engine.cluster(env).delete("v1", "ConfigMap", self._request_name(app, env.name), env.namespace)

    def manual_freeze(self, env: Environment) -> policy.Freeze | None:
        cm = self.engine.cluster(env).get("v1", "ConfigMap", f"gitopsctl-freeze-{env.name}", env.namespace)
        if not cm:
            return None
        data = cm.get("data") or {}
        until = datetime.fromisoformat(data["until"]) if data.get("until") else None
        return policy.Freeze("manual", f"{data.get('reason', '')} (frozen by {data.get('by', 'someone')})", until)

    # ------------------------------------------------------------ versions

    def _git_version(self, app: App, env: Environment) -> tuple[str | None, str | None]:
        """(version in Git, image repository) at the branch head, whose objects must lie inside the boundary."""
        sha = self.engine.repo.resolve()
        rendered, _ = self.engine._desired(app, env, sha)
        version = find_version(list(rendered.objects), app.container)
        repository = None
        for obj in rendered.objects:
            for c in ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
                if c.get("name") == app.container:
                    repository = image_repository(str(c.get("image", "")))
        return version, repository

    def _healthy_version(self, app: App, env: Environment) -> str | None:
        row = self.engine.status(app.name, env.name)[0]
        return row.version if row.health == HEALTHY and row.sync == "Synced" else None

    def _upstream(self, env: Environment) -> Environment | None:
        chain = self.engine.config.promotion_chain
        index = chain.index(env.name) if env.name in chain else -1
        return self.engine.config.environments[chain[index - 1]] if index > 0 else None

    # ------------------------------------------------------------ deploy

    def plan(
        self,
        app_name: str,
        env_name: str,
        version: str | None,
        *,
        actor: str,
        break_glass: bool = False,
        reason: str = "",
    ) -> Plan:
        """Every policy check of a deploy, and what it would do; nothing is written."""
        app, env = self.engine.resolve(app_name, env_name)
        upstream = self._upstream(env)
        if version is None:
            if upstream is None:
                raise UsageError(
                    f"{env.name} is the first environment; give the version to deploy, e.g. gitopsctl deploy {app.name} {env.name} v1.2.3"
                )
            version = self._healthy_version(app, upstream)
            if version is None:
                raise PolicyError(
                    f"{app.name} is not running Healthy in {upstream.name}, so there is no version to promote; give one explicitly"
                )
        check_version(version)
        if env.require_upstream_healthy and upstream is not None:
            running = self._healthy_version(app, upstream)
            if running != version:
                where = (
                    f"{upstream.name} runs {running} Healthy" if running else f"it is not Healthy in {upstream.name}"
                )
                raise PolicyError(
                    f"{app.name} {version} has not run Healthy in {upstream.name} ({where}); deploy it there first"
                )
        previous, _ = self._git_version(app, env)  # renders the app: a path escape or boundary refusal stops here
        freeze = policy.active_freeze(env, _now(), self.manual_freeze(env))
        if freeze is not None and not break_glass:
            until = f" until {freeze.until:%a %H:%M %Z}" if freeze.until else ""
            raise PolicyError(
                f"{env.name} is frozen ({freeze.name}{': ' + freeze.reason if freeze.reason else ''}){until}; "
                "ask for a break-glass override with --break-glass --reason TEXT, which a second person must approve"
            )
        if break_glass and not reason:
            raise UsageError("a break-glass deploy needs --reason saying why it cannot wait")
        existing = self.pending(app, env)
        if existing is not None and (
            existing.version != version or not same_person(self.engine.config, existing.requester, actor)
        ):
            raise PolicyError(f"a {existing.describe()} is already pending; approve or reject it first")
        if (active := self.engine.rollouts.active(app, env)) is not None:
            raise PolicyError(
                f"a rollout of {app.name} {active.canary_version} in {env.name} is in progress "
                f"({active.phase}, {active.weight}% on the canary); promote or abort it first"
            )
        canary = env.strategy == "canary" and previous is not None and previous != version
        return Plan(
            app.name,
            env.name,
            version,
            previous,
            "canary" if canary else "direct",
            tuple(step.describe() for step in app.canary.steps) if canary and app.canary else (),
            max(env.approval.required, 1 if freeze is not None else 0),
            policy.approvers_text(env),
            freeze is not None,
            reason,
        )

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
        plan = self.plan(app_name, env_name, version, actor=actor, break_glass=break_glass, reason=reason)
        app, env = self.engine.resolve(plan.app, plan.env)
        version, previous, required = plan.version, plan.previous, plan.approvals_required
        if required:
            existing = self.pending(app, env)
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
                _now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                required,
                plan.break_glass,
                reason,
            )
            self._save_request(env, request, replace=False)
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
            app, env, version, actor=actor, approvers=[], timeout=timeout, kind="Deploy", wait=wait, progress=progress
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
        request = self.bound(app, env, request_id, version)
        what = "break-glass deploy" if request.break_glass else "deploy"
        problem = policy.approval_problem(
            self.engine.config, env, request.requester, request.approvals, actor, what=what
        )
        if problem:
            raise PolicyError(problem)
        request.approvals.append(actor)
        if len(request.approvals) < request.required:
            self._save_request(env, request, replace=True)
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
        self._end(
            env,
            request,
            "Approved",
            f"approved by {', '.join(request.approvals)}",
            notify=as_actor(actor).source != SLACK,
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
        request = self.bound(app, env, request_id, version)
        own = same_person(self.engine.config, actor, request.requester)
        if not own and not policy.may_approve(self.engine.config, env, actor):
            raise PolicyError(f"{actor} may not reject deploys to {env.name}; approvers: {policy.approvers_text(env)}")
        self._end(env, request, "Withdrawn" if own else "Rejected", f"{'withdrawn' if own else 'rejected'} by {actor}")
        return request

    def rollback(
        self, app_name: str, env_name: str, *, to: str | None, actor: str, timeout: float = 300.0
    ) -> DeployResult:
        """Back to the previous Healthy version (or ``to``), fast and direct, as a commit. Freezes do not block it."""
        app, env = self.engine.resolve(app_name, env_name)
        current, _ = self._git_version(app, env)
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
        return self._execute(app, env, to, actor=actor, approvers=[], timeout=timeout, kind="Roll back")

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
    ) -> DeployResult:
        locks = Locks(self.engine.cluster(env), env.namespace)
        rollout = None
        with locks.hold(app.name, env.name, actor=actor, operation=f"{kind.lower()} {version}"):
            if (active := self.engine.rollouts.active(app, env)) is not None:
                verb = "abort it to roll back" if kind == "Roll back" else "promote or abort it first"
                raise PolicyError(
                    f"a rollout of {app.name} {active.canary_version} in {env.name} is in progress "
                    f"({active.phase}, {active.weight}% on the canary); {verb}"
                )
            previous, repository = self._git_version(app, env)
            commit = None
            if previous != version:
                title = (
                    f"Roll back {app.name} {env.name} to {version} (was {previous})"
                    if kind == "Roll back"
                    else f"{kind} {app.name} {version} to {env.name} (was {previous})"
                )
                trailers = {"Deployed-by": actor, "Approved-by": ", ".join(approvers), "Reason": reason}
                path = app.path_for(env.name)
                commit = self.engine.writer.commit(
                    lambda root: [set_version(root / path, app.container, version, repository).path], title, trailers
                )
            if env.strategy == "canary" and kind != "Roll back" and commit is not None and previous is not None:
                rollout = self.engine.rollouts.start(
                    app, env, stable_version=previous, canary_version=version, commit=commit, actor=actor
                )
            else:
                sync = self.engine.sync(
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

    # ------------------------------------------------------------ freezes

    def expire(self, *, approval_ttl: float) -> list[str]:
        """Drop approval requests older than ``approval_ttl`` seconds and manual freezes that have ended."""
        now, dropped = _now(), []
        for env in self.engine.config.environments.values():
            cluster = self.engine.cluster(env)
            for cm in cluster.list("v1", "ConfigMap", env.namespace, label_selector=REQUEST_LABEL):
                request = request_of(cm)
                asked = datetime.strptime(request.requested_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                if (now - asked).total_seconds() > approval_ttl:
                    self._end(env, request, "Expired", "not approved in time")
                    dropped.append(f"the {request.describe()}, not approved in time")
            freeze = self.manual_freeze(env)
            if freeze is not None and freeze.until is not None and freeze.until <= now:
                self.unfreeze(env.name)
                dropped.append(f"the freeze of {env.name} ({freeze.reason}), which ended at {freeze.until:%H:%M} UTC")
        return dropped

    def freeze(self, env_name: str, *, duration: timedelta, reason: str, actor: str) -> policy.Freeze:
        env = self._env(env_name)
        if not reason:
            raise UsageError("a freeze needs --reason saying why")
        until = _now() + duration
        cluster = self.engine.cluster(env)
        cluster.ensure_namespace(env.namespace)
        body = _cm(
            f"gitopsctl-freeze-{env.name}",
            env.namespace,
            {FREEZE_LABEL: "true", "gitopsctl.io/env": env.name},
            {"until": until.isoformat(), "reason": reason, "by": actor},
        )
        cluster.delete("v1", "ConfigMap", body["metadata"]["name"], env.namespace)
        cluster.create(body)
        return policy.Freeze("manual", reason, until)

    def unfreeze(self, env_name: str) -> bool:
        env = self._env(env_name)
        return self.engine.cluster(env).delete("v1", "ConfigMap", f"gitopsctl-freeze-{env.name}", env.namespace)

    def _env(self, name: str) -> Environment:
        if name not in self.engine.config.environments:
            raise UsageError(
                f'unknown environment "{name}"; known environments: {", ".join(self.engine.config.environments)}'
            )
        return self.engine.config.environments[name]
