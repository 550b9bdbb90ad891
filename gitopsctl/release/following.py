"""Following Git: what the leader of ``serve`` does with every new commit, and automatic promotion.

``follow()`` fetches the branch and, for each app in an environment with
``sync = "auto"`` whose Git change is not delivered, delivers it through the
same gates as a person's sync (deliveries.py). A held change (frozen,
quarantined, awaiting approval, locked) is reported once and tried again on
every run, so it goes out when the window ends, unless a newer commit replaces
it. A rollout in progress is never restarted by another commit: what is left
is delivered after it ends. A revision whose delivery failed is not tried again
by itself (a person's sync does).

Automatic promotion: a version running Healthy, in sync and not drifted in an
environment (after a direct sync, or a canary's promotion) is deployed to the
next environment of the chain when that one has ``auto_deploy = true``, once:
the versions promoted are remembered, so a rollback there is not undone.

What was last reported per app is kept in one ConfigMap per environment, so a
new leader does not report it again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..cluster.health import HEALTHY
from ..cluster.locks import Locks
from ..cluster.stored import RecordStore
from ..config import App, Environment
from ..errors import ClusterError, GitOpsError, PolicyError
from ..source.commits import Commit, read
from ..sync.service import SYNCED
from .requests import PENDING

if TYPE_CHECKING:
    from ..cluster.client import Cluster
    from ..engine import Engine

log = logging.getLogger(__name__)
STORE = "gitopsctl-follow"
AUTO_ACTOR = "gitopsctl"
DELIVERED, PROGRESSING, HELD, FAILED = "Delivered", "Progressing", "Held", "Failed"
PROMOTED_KEPT = 50


@dataclass
class Outcome:
    """What following did (or could not do) with one app in one environment on this run."""

    app: str
    env: str
    revision: str
    state: str  # Delivered | Progressing | PendingApproval | Held | Failed
    message: str
    commits: list[Commit] = field(default_factory=list)
    version: str | None = None
    new: bool = True  # not reported before: front ends post it
    result: Any = None  # the SyncResult or DeployResult, when something was delivered

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "revision": self.revision,
            "state": self.state,
            "message": self.message,
            "version": self.version,
            "commits": [c.as_dict() for c in self.commits],
        }


@dataclass
class Followed:
    """What is remembered per app and environment: the last outcome reported, the versions auto-promoted here."""

    revision: str = ""
    state: str = ""
    message: str = ""
    promoted: list[str] = field(default_factory=list)


_FOLLOWED_FIELDS = {"revision", "state", "message", "promoted"}


class Following:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------ delivering Git changes

    def follow(self) -> list[Outcome]:
        """Fetch the branch, deliver what ``auto`` environments have not got, then promote automatically."""
        engine = self.engine
        engine.repo.fetch(force=True)
        head = engine.repo.resolve()
        outcomes: list[Outcome] = []
        for env in engine.config.environments.values():
            pairs = [(app, e) for app, e in engine.pairs(env=env.name)]
            if not pairs or (env.sync != "auto" and not env.auto_deploy):
                continue
            state = self._read(env)
            changed = False
            for app, _ in pairs:
                try:
                    outcome = self._follow_one(app, env, head) if env.sync == "auto" else None
                    if outcome is None and env.auto_deploy:
                        outcome = self._promote_one(app, env, state)
                except GitOpsError as e:  # one broken app is reported in its row; the rest are followed
                    outcome = Outcome(app.name, env.name, head, FAILED, str(e))
                if outcome is None:
                    continue
                known = state.setdefault(app.name, Followed())
                outcome.new = (known.revision, known.state, known.message) != (
                    outcome.revision,
                    outcome.state,
                    outcome.message,
                )
                if outcome.new:
                    known.revision, known.state, known.message = outcome.revision, outcome.state, outcome.message
                    changed = True
                outcomes.append(outcome)
            if changed:
                self._write(env, state)
        return outcomes

    def _follow_one(self, app: App, env: Environment, head: str) -> Outcome | None:
        engine = self.engine
        if engine.rollouts.active(app, env) is not None:
            return None  # not restarted by another commit; the rest is delivered after it ends
        if any(i.app == app.name and i.env == env.name for i in Locks(engine.cluster(env), env.namespace).held()):
            return None  # someone's deploy or sync is running: it delivers, or the next run does
        wanted = engine.syncs.pending(app, env, head)
        if not wanted.changed:
            return None
        commits = list(wanted.commits)
        if wanted.failed is not None:
            return Outcome(
                app.name,
                env.name,
                head,
                FAILED,
                f"delivering {head[:12]} failed ({wanted.failed.message}); sync it by hand to try again",
                commits,
            )
        last = engine.rollouts.get(app.name, env.name)
        if last is not None and last.deploy_commit == head:
            return None  # this very revision already ran as a canary (and ended): never delivered twice
        requester = commits[0].author if commits else AUTO_ACTOR
        try:
            result = engine.promotions.deliveries.deliver(
                app, env, wanted, actor=AUTO_ACTOR, requester=requester, automatic=True
            )
        except PolicyError as e:
            return Outcome(app.name, env.name, head, HELD, str(e), commits)
        if result.result == PENDING:
            state = PENDING
        elif result.result == "Failed":
            state = FAILED
        else:
            state = PROGRESSING if result.rollout is not None else DELIVERED
        return Outcome(app.name, env.name, head, state, result.message, commits, result.version, result=result)

    # ------------------------------------------------------------ automatic promotion

    def upstream(self, env: Environment) -> Environment | None:
        chain = self.engine.config.promotion_chain
        index = chain.index(env.name) if env.name in chain else -1
        return self.engine.config.environments[chain[index - 1]] if index > 0 else None

    def _promote_one(self, app: App, env: Environment, state: dict[str, Followed]) -> Outcome | None:
        engine = self.engine
        upstream = self.upstream(env)
        if upstream is None or upstream.name not in app.environments:
            return None
        if engine.rollouts.active(app, upstream) is not None:
            return None
        row = engine.status(app.name, upstream.name)[0]
        version = row.version
        if not version or row.health != HEALTHY or row.sync != SYNCED or row.drift != "Clean":
            return None
        known = state.setdefault(app.name, Followed())
        if version in known.promoted:
            return None  # promoted once already: a rollback here is not undone
        here, _ = engine.promotions.planner.git_version(app, env)
        if here == version:
            return None
        actor = f"{AUTO_ACTOR} (auto after {upstream.name})"
        try:
            engine.promotions.incidents.refuse_automatic(env, "promotion from upstream")
            result = engine.deploy(app.name, env.name, version, actor=actor)
        except PolicyError as e:  # frozen, quarantined, locked: tried again next run
            return Outcome(app.name, env.name, version, HELD, f"promoting {version} from {upstream.name}: {e}")
        known.promoted = [version, *known.promoted][:PROMOTED_KEPT]
        self._write(env, state)  # remembered at once: a crash now never deploys it twice
        state_name = {"Deployed": DELIVERED, "Failed": FAILED}.get(result.status, result.status)
        message = f"{version} promoted from {upstream.name} by {actor}: {result.message or result.status}"
        own = engine.config.git.author_email
        commits = [read(c, own) for c in engine.repo.between(None, result.commit, [], 1)] if result.commit else []
        return Outcome(app.name, env.name, version, state_name, message, commits, version, result=result)

    # ------------------------------------------------------------ the store

    def held(self, env: Environment, reads: Cluster | None = None) -> dict[str, Followed]:
        """The last outcome per app of this environment, as reported (the console shows why a change waits);
        ``reads``: where to read it instead of the cluster itself (the live fleet's watched lists)."""
        return self._read(env, reads)

    def _read(self, env: Environment, reads: Cluster | None = None) -> dict[str, Followed]:
        """A damaged entry (or one with fields a newer replica wrote) is read as far as it goes, never a crash."""
        cm = (reads or self.engine.cluster(env)).get("v1", "ConfigMap", STORE, env.namespace)
        found = {}
        for app, text in ((cm or {}).get("data") or {}).items():
            try:
                data = json.loads(text)
                found[app] = Followed(**{k: v for k, v in data.items() if k in _FOLLOWED_FIELDS})
            except (TypeError, ValueError, AttributeError):
                log.warning("ignoring what was followed of %s in %s: the record is damaged", app, env.name)
        return found

    def _write(self, env: Environment, state: dict[str, Followed]) -> None:
        """Last writer wins: only the leader follows, and a lost write only repeats a report."""
        store = RecordStore(self.engine.cluster(env), env.namespace)
        data = {app: json.dumps(asdict(f)) for app, f in state.items()}
        try:
            store.write(STORE, {"gitopsctl.io/follow": "true"}, data, store.read(STORE).version)
        except ClusterError as e:  # a conflict included
            log.warning("cannot save what was followed in %s: %s", env.name, e)
