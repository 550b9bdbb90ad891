"""The configuration as the rest of gitopsctl sees it: frozen, typed values and the vocabularies they use.

Nothing here reads TOML or validates; ``parse`` builds these only from checked input.
Secrets stay ``${ENV_VAR}`` references (``SecretRef``) until the moment they are used.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from .health import HealthRule

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STRATEGIES = ("direct", "canary")
SYNC_POLICIES = ("manual", "auto")  # who delivers a Git change: a person asking, or the leader by itself
TRAFFIC_ROUTERS = ("replicas", "istio", "gateway", "nginx")
PROVIDERS = ("prometheus", "web")
ROLES = ("viewer", "deployer", "approver")  # each includes the ones before it
DEFAULT_PATH = "gitopsctl.toml"
DEFAULT_SLACK_API = "https://slack.com/api/"


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
    poll_interval: float = 60.0  # seconds between fetches of the branch by the leader; 0: webhooks only
    webhook_secret: SecretRef | None = None  # opens POST /hooks/git on serve's --port when set

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
    sync: str = "manual"  # manual | auto: whether the leader delivers Git changes here without being asked
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
class Webhook:
    """A URL called at a point of a canary rollout, as Flagger's webhooks are; a 2xx answer passes."""

    url: str
    secret: SecretRef | None = None  # signs each call (HMAC-SHA256 over the timestamp and the body)
    timeout: float = 30.0


@dataclass(frozen=True)
class Canary:
    steps: tuple[Step, ...]
    traffic_router: str = "replicas"
    background_analysis: tuple[str, ...] = ()
    scale_down_delay: float = 30.0  # a mesh's or ingress's proxies take this long to drop a route's old backends
    gateway: tuple[str, str] | None = None  # (namespace or "", name): the Gateway the gateway router's HTTPRoute joins
    pre_rollout: tuple[Webhook, ...] = ()  # called before the canary is created (after PreRollout hook Jobs)
    post_promotion: tuple[Webhook, ...] = ()  # called once the promotion's sync is Healthy (after PostPromotion Jobs)


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
    values: tuple[str, ...] = ()  # a Helm app's values files, relative to its path, given to helm in this order
    version_path: str | None = None  # FILE:KEY.KEY below its path, where a deploy writes the version (a Helm app)

    def path_for(self, env: str) -> str:
        return self.path.format(env=env, app=self.name)

    def values_for(self, env: str) -> tuple[str, ...]:
        return tuple(v.format(env=env, app=self.name) for v in self.values)

    def version_at(self, env: str) -> VersionPath | None:
        """Where a deploy to ``env`` writes the version: a values file's key rather than a manifest's image."""
        if self.version_path is None:
            return None
        file, _, keys = self.version_path.partition(":")
        return VersionPath(file.format(env=env, app=self.name), tuple(keys.split(".")))


@dataclass(frozen=True)
class VersionPath:
    file: str  # relative to the app's path
    keys: tuple[str, ...]  # mapping keys from the file's top, e.g. ("image", "tag")

    def __str__(self) -> str:
        return f"{self.file}:{'.'.join(self.keys)}"


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
    initial_delay: float = 0.0  # seconds after the step starts before the first measurement (a query's window)
    argo_compatible_nan: bool = False  # judge nil, empty, NaN and Inf by the conditions alone, as Argo Rollouts does

    @property
    def uses_stable(self) -> bool:
        """Conditions that compare with stable need its samples fetched too."""
        return any(re.search(r"\bstable\b", c or "") for c in (self.success_condition, self.failure_condition))


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
    git: tuple[str, ...] = ()  # commit author e-mail addresses (unverified: they only ever name a requester)


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
    health: dict[str, HealthRule] = field(default_factory=dict)  # [health]: checks for kinds gitopsctl does not know

    def app(self, name: str) -> App:
        return self.apps[name]

    def channel_for(self, app: str | None, env: str) -> str | None:
        """Where an app's releases and drift in ``env`` are reported: the app's channel, else the
        environment's, else ``[slack] default_channel``; None when none is set."""
        own = self.apps[app].slack_channel if app in self.apps else None
        return own or self.environments[env].slack_channel or self.slack.default_channel
