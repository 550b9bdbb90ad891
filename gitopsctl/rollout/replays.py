"""``analysis replay``: a template tried on an app's past rollouts, from their records and Prometheus's history.

The windows come from the rollout record (the latest rollout and how the ones before it ended, each with its
start and end); a rollout recorded before ends were kept takes its times from Git: its deploy commit, and its
revert commit for an abort. The decisions are analysis/replay.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..analysis.providers import provider_for
from ..analysis.replay import BAD_ENDS, CAUGHT, FALSE_ALARM, Replayed, Window, replay
from ..analysis.run import compile_template
from ..errors import ProviderError, UsageError
from . import record as rollout_records
from .act import analysis_variables

if TYPE_CHECKING:
    from ..config import Environment
    from ..engine import Engine

MAX_LAST = rollout_records.EARLIER_KEPT + 1


@dataclass
class ReplayReport:
    template: str
    app: str
    env: str
    replayed: list[Replayed] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # releases that could not be replayed, and why

    @property
    def bad(self) -> int:
        return sum(1 for r in self.replayed if r.window.ended in BAD_ENDS)

    @property
    def caught(self) -> int:
        return sum(1 for r in self.replayed if r.verdict == CAUGHT)

    @property
    def false_alarms(self) -> int:
        return sum(1 for r in self.replayed if r.verdict == FALSE_ALARM)

    @property
    def summary(self) -> str:
        good = len(self.replayed) - self.bad
        return (
            f"{self.template} would have caught {self.caught} of {self.bad} bad release(s) and failed "
            f"{self.false_alarms} of {good} good one(s)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "app": self.app,
            "env": self.env,
            "releases": [r.as_dict() for r in self.replayed],
            "skipped": self.skipped,
            "caught": self.caught,
            "bad": self.bad,
            "false_alarms": self.false_alarms,
            "summary": self.summary,
        }


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Replays:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def replay(self, template: str, app: str, env: str, last: int = 5) -> ReplayReport:
        """What ``template`` would have decided on the last ``last`` rollouts of ``app`` in ``env``."""
        config = self.engine.config
        if template not in config.analysis:
            known = ", ".join(sorted(config.analysis)) or "none configured"
            raise UsageError(f'unknown analysis template "{template}"; templates: {known}')
        if not 1 <= last <= MAX_LAST:
            raise UsageError(f"--last must be between 1 and {MAX_LAST} (the rollouts a record keeps)")
        spec, environment = self.engine.resolve(app, env)
        chosen = config.analysis[template]
        if chosen.provider != "prometheus":
            raise UsageError(f"{template} asks {chosen.provider}, which keeps no history: only Prometheus is replayed")
        try:
            provider = provider_for(chosen, config)
        except ProviderError as e:
            raise UsageError(str(e)) from e
        report = ReplayReport(template, app, env)
        windows = self.windows(app, environment, last, report.skipped)
        compiled, variables = compile_template(chosen), analysis_variables(spec, environment)
        report.replayed = [replay(compiled, provider, variables, w) for w in windows]
        return report

    def windows(self, app: str, environment: Environment, last: int, skipped: list[str]) -> list[Window]:
        """The last ``last`` ended rollouts, newest first, as windows; those without a known start or end skipped."""
        cluster = self.engine.cluster(environment)
        record = rollout_records.read(cluster, app, environment.name, environment.namespace)
        if record is None:
            return []
        entries = ([] if record.active else [record.outcome()]) + list(record.earlier)
        found = []
        for entry in entries[:last]:
            commit = str(entry.get("deploy_commit") or "")
            start = _moment(str(entry.get("started_at") or "")) or self._committed(commit)
            end = _moment(str(entry.get("ended_at") or "")) or self._committed(str(entry.get("revert_commit") or ""))
            version = str(entry.get("canary_version") or "")
            if start is None or end is None or end <= start:
                skipped.append(f"{version or commit[:12]}: no start and end recorded for it (it ran before they were)")
                continue
            found.append(
                Window(
                    commit,
                    version,
                    str(entry.get("stable_version") or ""),
                    str(entry.get("phase") or ""),
                    str(entry.get("message") or ""),
                    start,
                    end,
                )
            )
        return found

    def _committed(self, sha: str) -> datetime | None:
        """When Git says ``sha`` was committed; None when it is not a commit the clone has."""
        if len(sha) != 40 or not self.engine.repo.has(sha):
            return None
        commit = self.engine.repo.log(sha, "", 1)[0]
        return datetime.fromtimestamp(commit.committed_date, UTC)
