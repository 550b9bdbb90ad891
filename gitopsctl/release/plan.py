"""Planning a deploy: every policy check, and what it would do, before anything is written.

The bot and the console show the plan first; ``deploy`` then carries out the
same plan. A refusal here is the refusal a deploy would meet.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..cluster.health import HEALTHY
from ..config import App, Environment
from ..config.model import VersionPath
from ..errors import ManifestError, PolicyError, UsageError
from ..identity import same_person
from ..source.images import check_version, edit_value, read_value
from ..source.manifests import find_version, image_repository
from . import policy
from .deliveries import Deliveries
from .freezes import Freezes
from .requests import Requests

if TYPE_CHECKING:
    from ..engine import Engine


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
    incident: str = ""  # a responder of this incident deploys: no approvals, no freeze


def _now() -> datetime:
    return datetime.now(UTC)


class Planner:
    def __init__(self, engine: Engine, requests: Requests, freezes: Freezes, deliveries: Deliveries) -> None:
        self.engine = engine
        self.requests = requests
        self.freezes = freezes
        self.deliveries = deliveries

    def git_version(self, app: App, env: Environment) -> tuple[str | None, str | None]:
        """(version in Git, image repository) at the branch head, whose objects must lie inside the boundary."""
        sha = self.engine.repo.resolve()
        rendered, _ = self.engine.workspace.desired(app, env, sha)
        version = find_version(list(rendered.objects), app.container)
        if (where := app.version_at(env.name)) is not None:
            self._check_version_path(app, env, sha, where, version)
        repository = None
        for obj in rendered.objects:
            for c in ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
                if c.get("name") == app.container:
                    repository = image_repository(str(c.get("image", "")))
        return version, repository

    def _check_version_path(self, app: App, env: Environment, sha: str, where: VersionPath, rendered: str | None):
        """A deploy writes the version at ``where``: refused before any commit unless that is what the image shows."""
        path = posixpath.normpath(posixpath.join(app.path_for(env.name), where.file))
        content = self.engine.repo.read_file(sha, path)
        if content is None:
            raise ManifestError(f"{path} is not a file in Git, so {app.name}'s version_path ({where}) cannot be read")
        declared = read_value(content, where)
        if declared != rendered:
            raise ManifestError(
                f"{app.name} renders its image tag in {env.name} as {rendered}, but {where} is {declared}: "
                "version_path must name the value the image tag comes from (a later values file may set it again)"
            )

    def _preview(self, app: App, env: Environment, where: VersionPath, version: str) -> None:
        """Render the chart with the edit a deploy would commit: refused unless it deploys exactly ``version``."""
        sha = self.engine.repo.resolve()
        content = self.engine.repo.read_file(
            sha, posixpath.normpath(posixpath.join(app.path_for(env.name), where.file))
        )
        if content is None:
            raise ManifestError(f"{where.file} is not a file in Git, so {app.name}'s version cannot be written there")
        edited, _ = edit_value(content.decode("utf-8", "replace"), where, version)
        objects = self.engine.workspace.render_edited(app, env, sha, {where.file: edited.encode("utf-8")})
        deployed = find_version(list(objects), app.container)
        if deployed != version:
            raise ManifestError(
                f"writing {version} at {where} would deploy {app.name} {deployed} in {env.name}: the image tag does "
                "not come from there (a later values file may set it again); point version_path at the value it uses"
            )

    def healthy_version(self, app: App, env: Environment) -> str | None:
        row = self.engine.status(app.name, env.name)[0]
        return row.version if row.health == HEALTHY and row.sync == "Synced" else None

    def upstream(self, env: Environment) -> Environment | None:
        chain = self.engine.config.promotion_chain
        index = chain.index(env.name) if env.name in chain else -1
        return self.engine.config.environments[chain[index - 1]] if index > 0 else None

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
        upstream = self.upstream(env)
        if version is None:
            if upstream is None:
                raise UsageError(
                    f"{env.name} is the first environment; give the version to deploy, e.g. gitopsctl deploy {app.name} {env.name} v1.2.3"
                )
            version = self.healthy_version(app, upstream)
            if version is None:
                raise PolicyError(
                    f"{app.name} is not running Healthy in {upstream.name}, so there is no version to promote; give one explicitly"
                )
        check_version(version)
        self.deliveries.refuse_quarantined(app, [version])
        if env.require_upstream_healthy and upstream is not None:
            running = self.healthy_version(app, upstream)
            if running != version:
                where = (
                    f"{upstream.name} runs {running} Healthy" if running else f"it is not Healthy in {upstream.name}"
                )
                raise PolicyError(
                    f"{app.name} {version} has not run Healthy in {upstream.name} ({where}); deploy it there first"
                )
        previous, _ = self.git_version(app, env)  # renders the app: a path escape or boundary refusal stops here
        if (where := app.version_at(env.name)) is not None and version != previous:
            self._preview(app, env, where, version)
        responding = self.deliveries.incidents.responding(env, actor)
        freeze = None if responding else policy.active_freeze(env, _now(), self.freezes.manual(env))
        if freeze is not None and not break_glass:
            until = f" until {freeze.until:%a %H:%M %Z}" if freeze.until else ""
            raise PolicyError(
                f"{env.name} is frozen ({freeze.name}{': ' + freeze.reason if freeze.reason else ''}){until}; "
                "ask for a break-glass override with --break-glass --reason TEXT, which a second person must approve"
            )
        if break_glass and not reason:
            raise UsageError("a break-glass deploy needs --reason saying why it cannot wait")
        existing = self.requests.pending(app, env)
        if existing is not None and (
            existing.version != version or not same_person(self.engine.config, existing.requester, actor)
        ):
            raise PolicyError(f"a {existing.describe()} is already pending; approve or reject it first")
        if (active := self.engine.rollouts.active(app, env)) is not None:
            raise PolicyError(
                f"a rollout of {app.name} {active.canary_version} in {env.name} is in progress "
                f"({active.phase}, {active.weight}% on the canary); promote or abort it first"
            )
        self.deliveries.refuse_undelivered(app, env, "deploy")
        canary = env.strategy == "canary" and previous is not None and previous != version
        return Plan(
            app.name,
            env.name,
            version,
            previous,
            "canary" if canary else "direct",
            tuple(step.describe() for step in app.canary.steps) if canary and app.canary else (),
            0 if responding else max(env.approval.required, 1 if freeze is not None else 0),
            policy.approvers_text(env),
            freeze is not None,
            reason,
            responding.id if responding else "",
        )
