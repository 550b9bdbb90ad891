"""TOML configuration loaded into typed, validated objects.

Every problem is reported with its key path (``apps.trade-service.canary.steps[2].set_weight:
must be between 0 and 100 (got 140)``), all of them at once, and unknown keys are
errors so a typo never passes silently. Secrets never live in the file: they are
``${ENV_VAR}`` references resolved when used.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .durations import parse_duration
from .errors import ConfigError
from .identity import SLACK_USER

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_JSON_POINTER = re.compile(r"^(/([^~/]|~[01])*)+$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{6,})$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STRATEGIES = ("direct", "canary")
TRAFFIC_ROUTERS = ("replicas", "istio", "gateway", "nginx")
PROVIDERS = ("prometheus", "web")
DEFAULT_PATH = "gitopsctl.toml"
DEFAULT_SLACK_API = "https://slack.com/api/"


# ------------------------------------------------------------------ the model


@dataclass(frozen=True)
class SecretRef:
    """A ``${NAME}`` reference; the value is read from the environment only when used."""

    env_var: str
    key_path: str

    def resolve(self) -> str:
        value = os.environ.get(self.env_var)
        if not value:
            raise ConfigError([f"{self.key_path}: environment variable {self.env_var} is not set"])
        return value

    def __repr__(self) -> str:  # never print a value, only where it comes from
        return f"SecretRef(${{{self.env_var}}})"


@dataclass(frozen=True)
class GitConfig:
    url: str
    branch: str = "main"
    cache_dir: Path = field(default_factory=lambda: Path("~/.cache/gitopsctl").expanduser())
    author_name: str = "gitopsctl"
    author_email: str = "gitopsctl@localhost"
    max_render_bytes: int = 10 * 1024 * 1024
    commit_url: str | None = None  # e.g. "https://github.com/acme/deploy/commit/{sha}", for links in Slack

    def link(self, sha: str) -> str | None:
        return self.commit_url.replace("{sha}", sha) if self.commit_url else None


@dataclass(frozen=True)
class FreezeWindow:
    name: str
    days: tuple[str, ...]
    start: str
    end: str
    timezone: str = "UTC"
    reason: str = ""


@dataclass(frozen=True)
class Approval:
    required: int = 0
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    name: str
    context: str
    namespace: str = "default"
    kubeconfig: Path | None = None
    auto_deploy: bool = False
    strategy: str = "direct"
    require_upstream_healthy: bool = False
    self_heal: bool = False
    slack_channel: str | None = None
    approval: Approval = field(default_factory=Approval)
    freeze: tuple[FreezeWindow, ...] = ()
    allowed_namespaces: tuple[str, ...] = ()  # namespaces its apps may place objects in; ``namespace`` always is one
    cluster_resources: tuple[str, ...] = ()  # cluster-scoped kinds its apps may declare


@dataclass(frozen=True)
class Step:
    """One canary step: exactly one of set_weight, pause (seconds, or until promoted), analysis, judge."""

    set_weight: int | None = None
    pause: float | None = None
    pause_indefinitely: bool = False
    analysis: str | None = None
    judge: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.set_weight is not None:
            return f"{self.set_weight}% traffic"
        if self.pause_indefinitely:
            return "pause until promoted"
        if self.pause is not None:
            return f"pause {self.pause:g}s"
        if self.judge:
            return f"judge {', '.join(self.judge)}"
        return f"analysis {self.analysis}"


@dataclass(frozen=True)
class Canary:
    steps: tuple[Step, ...]
    traffic_router: str = "replicas"
    background_analysis: tuple[str, ...] = ()


@dataclass(frozen=True)
class App:
    name: str
    path: str
    container: str
    environments: tuple[str, ...]
    ignore_differences: tuple[str, ...] = ()
    canary: Canary | None = None
    slack_channel: str | None = None
    kinds: tuple[str, ...] | None = None  # the only kinds its manifests may hold; None: any namespaced kind

    def path_for(self, env: str) -> str:
        return self.path.format(env=env, app=self.name)


@dataclass(frozen=True)
class AnalysisTemplate:
    name: str
    provider: str
    query: str
    interval: float = 30.0
    count: int = 5
    success_condition: str | None = None
    failure_condition: str | None = None
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = 4
    url: str | None = None
    judge: str | None = None  # increase | decrease | either: compare canary with stable statistically
    window: float = 60.0
    min_samples: int = 10

    @property
    def uses_stable(self) -> bool:
        """Conditions that compare with stable need its samples fetched too."""
        return any("stable" in (c or "") for c in (self.success_condition, self.failure_condition))


ROLES = ("viewer", "deployer", "approver")  # each includes the ones before it


@dataclass(frozen=True)
class SlackRoles:
    """Who may do what in one environment from Slack: user IDs (U...), user group IDs (S...) or "*" for everyone."""

    viewers: tuple[str, ...] = ("*",)
    deployers: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()

    def members(self, role: str) -> tuple[str, ...]:
        """Everyone holding ``role`` or a higher one."""
        ranked = {"viewer": (self.viewers, self.deployers, self.approvers)}
        ranked["deployer"] = (self.deployers, self.approvers)
        ranked["approver"] = (self.approvers,)
        return tuple(m for group in ranked[role] for m in group)


@dataclass(frozen=True)
class SlackConfig:
    bot_token: SecretRef | None = None
    signing_secret: SecretRef | None = None
    app_token: SecretRef | None = None
    api_base_url: str = DEFAULT_SLACK_API
    default_channel: str | None = None
    roles: dict[str, SlackRoles] = field(default_factory=dict)

    def roles_for(self, env: str) -> SlackRoles:
        """An environment without a [slack.roles.ENV] table: everyone may look, nobody may change anything."""
        return self.roles.get(env, SlackRoles())


@dataclass(frozen=True)
class DriftConfig:
    interval: float | None = 180.0
    cron: str | None = None
    jitter: float = 20.0
    reminder_after_scans: int = 10
    summary_cron: str | None = None


@dataclass(frozen=True)
class ServeConfig:
    """``gitopsctl serve``: leader election, the controller loop, event-driven drift and observability."""

    lease_name: str = "gitopsctl-serve"
    lease_namespace: str = "gitopsctl"
    lease_context: str | None = None  # default: the first environment's cluster
    lease_kubeconfig: Path | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    reconcile_interval: float = 2.0
    watch: bool = True  # report hand-made changes within seconds, besides the scheduled scans
    approval_ttl: float = 24 * 3600.0  # pending approvals older than this are dropped
    metrics_address: str = "127.0.0.1"
    metrics_port: int = 9102  # /metrics, /healthz, /readyz; 0 turns it off


@dataclass(frozen=True)
class PrometheusConfig:
    """How the analysis reaches its metrics: TLS verified unless explicitly skipped, credentials from the environment.

    The TLS settings apply to the web provider too; the credentials go only to ``[prometheus] url``.
    """

    ca_file: Path | None = None  # verify the server against this CA bundle instead of the system's
    insecure_skip_verify: bool = False
    bearer_token: SecretRef | None = None
    username: str | None = None
    password: SecretRef | None = None


@dataclass(frozen=True)
class Person:
    """One person's identities in every front end: so four-eyes rules hold across Slack, the CLI and the console."""

    name: str
    slack: str | None = None  # Slack user ID
    kube: tuple[str, ...] = ()  # cluster user names, as `kubectl auth whoami` prints them


@dataclass(frozen=True)
class Config:
    git: GitConfig
    environments: dict[str, Environment]
    apps: dict[str, App]
    promotion_chain: tuple[str, ...]
    analysis: dict[str, AnalysisTemplate] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    slack: SlackConfig = field(default_factory=SlackConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    prometheus_url: str | None = None
    source: str = ""
    pass_score: int = 95  # the statistical judge's score (0-100) to pass; at or above marginal_score pauses
    marginal_score: int = 75
    serve: ServeConfig = field(default_factory=ServeConfig)
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    people: dict[str, Person] = field(default_factory=dict)

    def app(self, name: str) -> App:
        return self.apps[name]


# ------------------------------------------------------------------ the reader


class _Reader:
    """Reads one TOML table, recording errors against its key path and flagging unknown keys."""

    def __init__(self, data: Any, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        self.data = data if isinstance(data, dict) else {}
        self.seen: set[str] = set()
        if not isinstance(data, dict):
            self.error(None, f"must be a table (got {_type_name(data)})")

    def where(self, key: str | None) -> str:
        if key is None:
            return self.path or "(top level)"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str | None, message: str) -> None:
        self.errors.append(f"{self.where(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key)

    def _typed(self, key: str, kinds: tuple[type, ...], label: str, required: bool, default: Any) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.error(key, "required key is missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in kinds:
            self.error(key, f"must be {label} (got {_type_name(value)})")
            return default
        if not isinstance(value, kinds):
            self.error(key, f"must be {label} (got {_type_name(value)})")
            return default
        return value

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        default: str | None = None,
        check: Callable[[str], str | None] | None = None,
    ) -> str | None:
        value = self._typed(key, (str,), "a string", required, default)
        if isinstance(value, str) and key in self.data:
            if required and not value.strip():
                self.error(key, "must not be empty")
                return default
            if check is not None and (problem := check(value)):
                self.error(key, problem)
                return default
        return value

    def integer(self, key: str, *, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._typed(key, (int,), "a whole number", False, default)
        out_of_range = (minimum is not None and value < minimum) or (maximum is not None and value > maximum)
        if key in self.data and isinstance(value, int) and out_of_range:
            self.error(key, _range_message(minimum, maximum, value))
            return default
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        return self._typed(key, (bool,), "true or false", False, default)

    def duration(self, key: str, *, default: float | None, required: bool = False) -> float | None:
        value = self._typed(key, (str,), 'a duration such as "30s" or "2m"', required, None)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as e:
            self.error(key, str(e))
            return default

    def strings(
        self, key: str, *, default: tuple[str, ...] = (), check: Callable[[str], str | None] | None = None
    ) -> tuple[str, ...]:
        value = self._typed(key, (list,), "a list of strings", False, None)
        if value is None:
            return default
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.errors.append(f"{self.where(key)}[{i}]: must be a string (got {_type_name(item)})")
            elif check is not None and (problem := check(item)):
                self.errors.append(f"{self.where(key)}[{i}]: {problem}")
            else:
                out.append(item)
        return tuple(out)

    def table(self, key: str, *, required: bool = False) -> _Reader | None:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.error(key, "required table is missing")
            return None
        return _Reader(self.data[key], self.where(key), self.errors)

    def finish(self) -> None:
        known = sorted(self.seen)
        for key in self.data:
            if key not in self.seen:
                hint = difflib.get_close_matches(key, known, n=1)
                suggestion = f' (did you mean "{hint[0]}"?)' if hint else f" (known keys: {', '.join(known)})"
                self.error(key, "unknown key" + suggestion)


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _range_message(minimum: int | None, maximum: int | None, value: int) -> str:
    if minimum is not None and maximum is not None:
        return f"must be between {minimum} and {maximum} (got {value})"
    if minimum is not None:
        return f"must be at least {minimum} (got {value})"
    return f"must be at most {maximum} (got {value})"


def _dns_label(value: str) -> str | None:
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        return (
            f'"{value}" is not a valid name: use lower-case letters, digits and "-", '
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return None


def slack_channel_problem(value: str) -> str | None:
    return (
        None
        if _CHANNEL.match(value)
        else f'"{value}" is not a Slack channel: use "#name" or a channel ID such as C0123456'
    )


def _condition(value: str) -> str | None:
    from .analysis.conditions import ConditionError, compile_condition

    try:
        compile_condition(value)
    except ConditionError as e:
        return str(e)
    return None


def _url(value: str) -> str | None:
    return None if re.match(r"^https?://[^\s]+$", value) else f'"{value}" is not an http(s) URL'


def _secret(reader: _Reader, key: str) -> SecretRef | None:
    value = reader.string(key)
    if value is None:
        return None
    match = _ENV_REF.match(value)
    if not match:
        reader.error(
            key,
            'must be an environment variable reference such as "${SLACK_BOT_TOKEN}"; '
            "secrets never live in the configuration file",
        )
        return None
    return SecretRef(match.group(1), reader.where(key))


# ------------------------------------------------------------------ sections


def _git(reader: _Reader | None, base_dir: Path, errors: list[str]) -> GitConfig | None:
    if reader is None:
        errors.append("git: required table is missing")
        return None
    url = reader.string("url", required=True)
    branch = reader.string("branch", default="main")
    cache_dir = reader.string("cache_dir")
    author_name = reader.string("author_name", default="gitopsctl")
    author_email = reader.string("author_email", default="gitopsctl@localhost")
    max_mb = reader.integer("max_render_mb", default=10, minimum=1, maximum=1024)
    commit_url = reader.string(
        "commit_url",
        check=lambda v: _url(v) or (None if "{sha}" in v else 'must contain "{sha}" where the commit goes'),
    )
    reader.finish()
    if url is None:
        return None
    return GitConfig(
        url=url,
        branch=branch or "main",
        cache_dir=_resolve_path(cache_dir, base_dir) if cache_dir else Path("~/.cache/gitopsctl").expanduser(),
        author_name=author_name or "gitopsctl",
        author_email=author_email or "gitopsctl@localhost",
        max_render_bytes=max_mb * 1024 * 1024,
        commit_url=commit_url,
    )


def _resolve_path(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _freeze(reader: _Reader, index: int) -> FreezeWindow | None:
    name = reader.string("name", default=f"freeze-{index}")
    days = reader.strings(
        "days", default=DAYS, check=lambda d: None if d in DAYS else f'"{d}" is not a day; use one of {", ".join(DAYS)}'
    )
    start = reader.string(
        "start", required=True, check=lambda t: None if _TIME.match(t) else f'"{t}" is not a time; write it as HH:MM'
    )
    end = reader.string(
        "end", required=True, check=lambda t: None if _TIME.match(t) else f'"{t}" is not a time; write it as HH:MM'
    )
    tz = reader.string("timezone", default="UTC", check=_timezone)
    reason = reader.string("reason", default="")
    reader.finish()
    if start is None or end is None:
        return None
    return FreezeWindow(name or "", days, start, end, tz or "UTC", reason or "")


def _timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f'"{value}" is not a known time zone (use an IANA name such as Europe/London)'
    return None


def _environment(name: str, reader: _Reader, base_dir: Path, groups: dict[str, tuple[str, ...]]) -> Environment:
    context = reader.string("context", required=True)
    namespace = reader.string("namespace", default="default", check=_dns_label)
    kubeconfig = reader.string("kubeconfig")
    auto_deploy = reader.boolean("auto_deploy", default=False)
    strategy = reader.string(
        "strategy",
        default="direct",
        check=lambda s: None if s in STRATEGIES else f'must be one of {", ".join(STRATEGIES)} (got "{s}")',
    )
    upstream = reader.boolean("require_upstream_healthy", default=False)
    self_heal = reader.boolean("self_heal", default=False)
    channel = reader.string("slack_channel", check=slack_channel_problem)
    allowed_namespaces = reader.strings("allowed_namespaces", check=_dns_label)
    cluster_resources = reader.strings("cluster_resources", check=_kind)
    approval = Approval()
    if (sub := reader.table("approval")) is not None:
        required = sub.integer("required", default=1, minimum=0, maximum=10)
        users = sub.strings("users")
        group_names = sub.strings(
            "groups", check=lambda g: None if g in groups else f'"{g}" is not defined under [groups]'
        )
        if required and not users and not group_names:
            sub.error(
                "required",
                "approvals are required but no users or groups may approve; add approval.users or approval.groups",
            )
        sub.finish()
        approval = Approval(required, users, group_names)
    windows = []
    raw_freeze = reader.raw("freeze")
    if raw_freeze is not None:
        if not isinstance(raw_freeze, list):
            reader.error("freeze", "must be a list of tables ([[environments.NAME.freeze]])")
        else:
            for i, item in enumerate(raw_freeze):
                window = _freeze(_Reader(item, f"{reader.where('freeze')}[{i}]", reader.errors), i)
                if window is not None:
                    windows.append(window)
    reader.finish()
    return Environment(
        name=name,
        context=context or "",
        namespace=namespace or "default",
        kubeconfig=_resolve_path(kubeconfig, base_dir) if kubeconfig else None,
        auto_deploy=auto_deploy,
        strategy=strategy or "direct",
        require_upstream_healthy=upstream,
        self_heal=self_heal,
        slack_channel=channel,
        approval=approval,
        freeze=tuple(windows),
        allowed_namespaces=tuple(dict.fromkeys((namespace or "default", *allowed_namespaces))),
        cluster_resources=cluster_resources,
    )


def _step(reader: _Reader, templates: dict[str, Any]) -> Step | None:
    kinds = [k for k in ("set_weight", "pause", "analysis", "judge") if reader.has(k)]
    if len(kinds) != 1:
        reader.error(
            None,
            "each step needs exactly one of set_weight, pause, analysis or judge"
            + (f" (got {', '.join(kinds)})" if kinds else ""),
        )
    step = None
    if reader.has("set_weight"):
        weight = reader.integer("set_weight", default=-1, minimum=0, maximum=100)
        step = Step(set_weight=weight) if weight >= 0 else None
    if reader.has("pause"):
        value = reader.raw("pause")
        if isinstance(value, dict) and not value:
            step = Step(pause_indefinitely=True)
        else:
            seconds = reader.duration("pause", default=None)
            if seconds is not None:
                step = Step(pause=seconds)
    if reader.has("analysis"):
        name = reader.string(
            "analysis",
            check=lambda t: (
                None if t in templates else f'"{t}" is not an analysis template defined under [analysis.templates]'
            ),
        )
        step = Step(analysis=name) if name else None
    if reader.has("judge"):
        names = reader.strings(
            "judge",
            check=lambda t: (
                None
                if getattr(templates.get(t), "judge", None)
                else f'"{t}" is not an analysis template with judge = "increase", "decrease" or "either"'
            ),
        )
        step = Step(judge=names) if names else None
    reader.finish()
    return step if len(kinds) == 1 else None


def _canary(reader: _Reader, templates: dict[str, Any]) -> Canary | None:
    raw_steps = reader.raw("steps")
    steps = []
    if not isinstance(raw_steps, list) or not raw_steps:
        reader.error("steps", "must be a non-empty list of steps such as { set_weight = 10 }")
    else:
        for i, item in enumerate(raw_steps):
            step = _step(_Reader(item, f"{reader.where('steps')}[{i}]", reader.errors), templates)
            if step is not None:
                steps.append(step)
    router = reader.string(
        "traffic_router",
        default="replicas",
        check=lambda r: None if r in TRAFFIC_ROUTERS else f'must be one of {", ".join(TRAFFIC_ROUTERS)} (got "{r}")',
    )
    background = reader.strings(
        "background_analysis",
        check=lambda t: (
            None if t in templates else f'"{t}" is not an analysis template defined under [analysis.templates]'
        ),
    )
    reader.finish()
    return Canary(tuple(steps), router or "replicas", background)


def _app(name: str, reader: _Reader, environments: dict[str, Any], templates: dict[str, Any]) -> App:
    path = reader.string("path", required=True, check=_path_template)
    container = reader.string("container", default=name)
    envs = reader.strings(
        "environments",
        default=tuple(environments),
        check=lambda e: None if e in environments else f'"{e}" is not an environment defined under [environments]',
    )
    ignore = reader.strings(
        "ignore_differences",
        check=lambda p: None if _JSON_POINTER.match(p) else f'"{p}" is not a JSON pointer such as /spec/replicas',
    )
    channel = reader.string("slack_channel", check=slack_channel_problem)
    raw_kinds = reader.raw("kinds")
    kinds = None if raw_kinds is None else reader.strings("kinds", check=_kind)
    if raw_kinds == []:
        reader.error("kinds", "must list at least one kind (leave it out to allow any namespaced kind)")
    canary = None
    if (sub := reader.table("canary")) is not None:
        canary = _canary(sub, templates)
    else:
        needing = [e for e in envs if getattr(environments.get(e), "strategy", "direct") == "canary"]
        if needing:
            reader.error(
                "canary",
                f"required because environment {needing[0]} uses the canary strategy; add [apps.{name}.canary] with steps",
            )
    reader.finish()
    return App(name, path or "", container or name, envs, ignore, canary, channel, kinds)


def _kind(value: str) -> str | None:
    return None if _KIND.match(value) else f'"{value}" is not a Kubernetes kind such as Deployment or ClusterRole'


def _path_template(value: str) -> str | None:
    if value.startswith("/") or ".." in Path(value).parts:
        return f'"{value}" must be a relative path inside the repository'
    try:
        value.format(env="x", app="x")
    except (KeyError, IndexError, ValueError):
        return f'"{value}" may only use the placeholders {{env}} and {{app}}'
    return None


def _template(name: str, reader: _Reader) -> AnalysisTemplate:
    provider = reader.string(
        "provider",
        default="prometheus",
        check=lambda p: None if p in PROVIDERS else f'must be one of {", ".join(PROVIDERS)} (got "{p}")',
    )
    query = reader.string("query", required=True)
    interval = reader.duration("interval", default=30.0)
    count = reader.integer("count", default=5, minimum=1, maximum=1000)
    success = reader.string("success_condition", check=_condition)
    failure = reader.string("failure_condition", check=_condition)
    failure_limit = reader.integer("failure_limit", default=0, minimum=0, maximum=100)
    inconclusive_limit = reader.integer("inconclusive_limit", default=0, minimum=0, maximum=100)
    consecutive_error_limit = reader.integer("consecutive_error_limit", default=4, minimum=0, maximum=100)
    url = reader.string("url", check=_url)
    judge = reader.string(
        "judge",
        check=lambda j: (
            None if j in ("increase", "decrease", "either") else f'must be increase, decrease or either (got "{j}")'
        ),
    )
    window = reader.duration("window", default=60.0)
    min_samples = reader.integer("min_samples", default=10, minimum=3, maximum=10000)
    if not reader.has("success_condition") and not reader.has("failure_condition") and not reader.has("judge"):
        reader.error(None, "needs success_condition or failure_condition (or both), or judge")
    if provider == "web" and not url:
        reader.error("url", "required when provider is web")
    reader.finish()
    return AnalysisTemplate(
        name,
        provider or "prometheus",
        query or "",
        interval or 30.0,
        count,
        success,
        failure,
        failure_limit,
        inconclusive_limit,
        consecutive_error_limit,
        url,
        judge,
        window or 60.0,
        min_samples,
    )


def _named_tables(reader: _Reader | None, what: str) -> dict[str, _Reader]:
    if reader is None:
        return {}
    out = {}
    for name in reader.data:
        sub = reader.table(name)
        if (problem := _dns_label(name)) is not None:
            reader.error(name, f"{what} name {problem}")
        out[name] = sub
    reader.finish()
    return out


def parse(data: dict[str, Any], *, source: str = "", base_dir: Path | None = None) -> Config:
    """Validate a parsed TOML document; raises ConfigError listing every problem."""
    errors: list[str] = []
    base_dir = base_dir or Path.cwd()
    top = _Reader(data, "", errors)
    git = _git(top.table("git"), base_dir, errors)

    people = _people(top.table("people"))
    groups: dict[str, tuple[str, ...]] = {}
    if (groups_reader := top.table("groups")) is not None:
        for name in groups_reader.data:
            groups[name] = groups_reader.strings(name)
        groups_reader.finish()

    templates: dict[str, AnalysisTemplate] = {}
    pass_score, marginal_score = 95, 75
    if (analysis := top.table("analysis")) is not None:
        for name, sub in _named_tables(analysis.table("templates"), "analysis template").items():
            templates[name] = _template(name, sub)
        pass_score = analysis.integer("pass_score", default=95, minimum=0, maximum=100)
        marginal_score = analysis.integer("marginal_score", default=75, minimum=0, maximum=100)
        if marginal_score > pass_score:
            analysis.error("marginal_score", f"must not be above pass_score ({pass_score})")
        analysis.finish()

    env_readers = _named_tables(top.table("environments", required=True), "environment")
    environments = {name: _environment(name, sub, base_dir, groups) for name, sub in env_readers.items()}
    if not env_readers and "environments" in data:
        errors.append("environments: define at least one environment")

    app_readers = _named_tables(top.table("apps", required=True), "app")
    apps = {name: _app(name, sub, environments, templates) for name, sub in app_readers.items()}
    if not app_readers and "apps" in data:
        errors.append("apps: define at least one app")

    chain = tuple(environments)
    if (promotion := top.table("promotion")) is not None:
        chain = promotion.strings(
            "chain",
            default=chain,
            check=lambda e: None if e in environments else f'"{e}" is not an environment defined under [environments]',
        )
        if len(set(chain)) != len(chain):
            promotion.error("chain", "lists an environment twice")
        promotion.finish()

    slack = SlackConfig()
    if (sr := top.table("slack")) is not None:
        slack = SlackConfig(
            bot_token=_secret(sr, "bot_token"),
            signing_secret=_secret(sr, "signing_secret"),
            app_token=_secret(sr, "app_token"),
            api_base_url=sr.string("api_base_url", default=DEFAULT_SLACK_API, check=_url) or DEFAULT_SLACK_API,
            default_channel=sr.string("default_channel", check=slack_channel_problem),
            roles=_slack_roles(sr.table("roles"), environments, people),
        )
        sr.finish()

    drift = DriftConfig()
    if (dr := top.table("drift")) is not None:
        interval = dr.duration("interval", default=180.0)
        cron = dr.string("cron", check=_cron)
        if dr.has("interval") and dr.has("cron"):
            dr.error("cron", "set either interval or cron, not both")
        drift = DriftConfig(
            interval=None if cron else interval,
            cron=cron,
            jitter=dr.duration("jitter", default=20.0) or 0.0,
            reminder_after_scans=dr.integer("reminder_after_scans", default=10, minimum=1, maximum=1000),
            summary_cron=dr.string("summary_cron", check=_cron),
        )
        dr.finish()

    serve = ServeConfig()
    if (sv := top.table("serve")) is not None:
        lease = sv.duration("lease_duration", default=15.0) or 15.0
        renew = sv.duration("renew_deadline", default=10.0) or 10.0
        retry = sv.duration("retry_period", default=2.0) or 2.0
        if not (lease > renew > 1.2 * retry and retry >= 1):
            sv.error(
                "lease_duration",
                f"needs lease_duration > renew_deadline > 1.2 x retry_period and retry_period >= 1s "
                f"(got {lease:g}s, {renew:g}s, {retry:g}s)",
            )
        kubeconfig = sv.string("lease_kubeconfig")
        serve = ServeConfig(
            lease_name=sv.string("lease_name", default="gitopsctl-serve", check=_dns_label) or "gitopsctl-serve",
            lease_namespace=sv.string("lease_namespace", default="gitopsctl", check=_dns_label) or "gitopsctl",
            lease_context=sv.string("lease_context"),
            lease_kubeconfig=_resolve_path(kubeconfig, base_dir) if kubeconfig else None,
            lease_duration=lease,
            renew_deadline=renew,
            retry_period=retry,
            reconcile_interval=sv.duration("reconcile_interval", default=2.0) or 2.0,
            watch=sv.boolean("watch", default=True),
            approval_ttl=sv.duration("approval_ttl", default=24 * 3600.0) or 24 * 3600.0,
            metrics_address=sv.string("metrics_address", default="127.0.0.1") or "127.0.0.1",
            metrics_port=sv.integer("metrics_port", default=9102, minimum=0, maximum=65535),
        )
        sv.finish()

    prometheus_url, prometheus = None, PrometheusConfig()
    if (pr := top.table("prometheus")) is not None:
        prometheus_url = pr.string("url", required=True, check=_url)
        ca_file = pr.string("ca_file")
        prometheus = PrometheusConfig(
            ca_file=_resolve_path(ca_file, base_dir) if ca_file else None,
            insecure_skip_verify=pr.boolean("insecure_skip_verify", default=False),
            bearer_token=_secret(pr, "bearer_token"),
            username=pr.string("username"),
            password=_secret(pr, "password"),
        )
        if prometheus.ca_file is not None and prometheus.insecure_skip_verify:
            pr.error("insecure_skip_verify", "set either ca_file or insecure_skip_verify, not both")
        if prometheus.bearer_token is not None and (prometheus.username or prometheus.password):
            pr.error("bearer_token", "set either bearer_token or username and password, not both")
        if bool(prometheus.username) != (prometheus.password is not None):
            pr.error("username" if prometheus.password else "password", "username and password go together")
        pr.finish()
    top.finish()

    if errors:
        raise ConfigError(errors, source)
    assert git is not None
    return Config(
        git,
        environments,
        apps,
        chain,
        templates,
        groups,
        slack,
        drift,
        prometheus_url,
        source,
        pass_score,
        marginal_score,
        serve,
        prometheus,
        people,
    )


def _people(reader: _Reader | None) -> dict[str, Person]:
    """``[people.NAME]``: each identity belongs to one person at most, or approvals could not tell people apart."""
    people: dict[str, Person] = {}
    owners: dict[str, str] = {}
    for name, sub in _named_tables(reader, "person").items():
        slack = sub.string(
            "slack",
            check=lambda v: None if SLACK_USER.match(v) else f'must be a Slack user ID like U024BE7LH (got "{v}")',
        )
        kube = sub.strings(
            "kube", check=lambda v: None if _KUBE_USER.match(v) else f'must be a cluster user name (got "{v}")'
        )
        for identity in ([f"slack {slack}"] if slack else []) + [f"cluster user {k}" for k in kube]:
            if identity in owners:
                sub.error(None, f"{identity} is already {owners[identity]}'s; one identity belongs to one person")
            owners.setdefault(identity, name)
        if not slack and not kube:
            sub.error(None, "name at least one identity: slack (a user ID) or kube (cluster user names)")
        sub.finish()
        people[name] = Person(name, slack, kube)
    return people


_KUBE_USER = re.compile(r"^[^\x00-\x20\x7f]{1,253}$")
_SLACK_MEMBER = re.compile(r"^(\*|[UW][A-Z0-9]{2,}|S[A-Z0-9]{2,})$")


def _slack_member(value: str) -> str | None:
    if _SLACK_MEMBER.match(value):
        return None
    return (
        f'"{value}" is not a Slack user ID (U...), user group ID (S...), "*" or a name from [people]; '
        'find IDs in a profile\'s "Copy member ID"'
    )


def _slack_roles(
    reader: _Reader | None, environments: dict[str, Environment], people: dict[str, Person]
) -> dict[str, SlackRoles]:
    """Roles per environment; a person from ``[people]`` stands for their Slack user ID."""
    roles: dict[str, SlackRoles] = {}

    def member(value: str) -> str | None:
        if value in people:
            return None if people[value].slack else f'"{value}" has no slack ID under [people.{value}]'
        return _slack_member(value)

    def members(table: _Reader, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        named = table.strings(key, default=default, check=member)
        return tuple(people[m].slack or m if m in people else m for m in named)

    if reader is None:
        return roles
    for env in reader.data:
        if env not in environments:
            reader.error(env, f'"{env}" is not an environment defined under [environments]')
            reader.raw(env)
            continue
        table = reader.table(env)
        assert table is not None
        roles[env] = SlackRoles(
            viewers=members(table, "viewers", ("*",)),
            deployers=members(table, "deployers"),
            approvers=members(table, "approvers"),
        )
        table.finish()
    reader.finish()
    return roles


def _cron(value: str) -> str | None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as e:
        return f'"{value}" is not a cron expression ({e})'
    return None


def resolve_path(explicit: str | None) -> Path:
    """``--config`` beats ``$GITOPSCTL_CONFIG`` beats ``./gitopsctl.toml``."""
    if explicit:
        return Path(explicit)
    if os.environ.get("GITOPSCTL_CONFIG"):
        return Path(os.environ["GITOPSCTL_CONFIG"])
    return Path(DEFAULT_PATH)


def load(explicit: str | None = None) -> Config:
    path = resolve_path(explicit)
    if not path.is_file():
        raise ConfigError(
            [
                f"no configuration at {path}: pass --config PATH, set GITOPSCTL_CONFIG, or create ./{DEFAULT_PATH} "
                "(config.example.toml is a complete example)"
            ]
        )
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"not valid TOML: {e}"], str(path)) from e
    except OSError as e:
        raise ConfigError([f"cannot read {path}: {e.strerror}"], str(path)) from e
    return parse(data, source=str(path), base_dir=path.parent.resolve())
