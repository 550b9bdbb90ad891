"""TOML configuration loaded into typed, validated objects.

Every problem is reported with its key path (``apps.trade-service.canary.steps[2].set_weight:
must be between 0 and 100 (got 140)``), all of them at once, and unknown keys are
errors so a typo never passes silently. Secrets never live in the file: they are
``${ENV_VAR}`` references resolved when used.

- ``model``: the frozen dataclasses and vocabularies every other module reads.
- ``reader``: reading one table with key paths and unknown-key errors; the value checks.
- ``delivery``: ``[git]``, ``[environments]``, ``[apps]`` and their canary, ``[analysis.templates]``.
- ``access``: ``[people]`` and ``[slack]`` with roles.
- ``runtime``: ``[drift]``, ``[serve]``, ``[prometheus]``.
- ``health``: ``[health]``, checks for kinds gitopsctl does not know, as bounded expressions.
- ``parse``: a whole document to a ``Config``; ``load``: finding and reading the file.

Callers import from here only.
"""

from ..errors import ConfigError
from .health import HealthRule, compile_expression
from .load import load, resolve_path
from .model import (
    DAYS,
    DEFAULT_PATH,
    DEFAULT_SLACK_API,
    PROVIDERS,
    ROLES,
    STRATEGIES,
    TRAFFIC_ROUTERS,
    AnalysisTemplate,
    App,
    Approval,
    Canary,
    Config,
    DriftConfig,
    Environment,
    FreezeWindow,
    GitConfig,
    Person,
    PrometheusConfig,
    SecretRef,
    ServeConfig,
    SlackConfig,
    SlackRoles,
    Step,
    Webhook,
)
from .parse import parse
from .reader import slack_channel_problem

__all__ = [
    "DAYS",
    "DEFAULT_PATH",
    "DEFAULT_SLACK_API",
    "PROVIDERS",
    "ROLES",
    "STRATEGIES",
    "TRAFFIC_ROUTERS",
    "AnalysisTemplate",
    "App",
    "Approval",
    "Canary",
    "Config",
    "ConfigError",
    "DriftConfig",
    "Environment",
    "FreezeWindow",
    "GitConfig",
    "HealthRule",
    "Person",
    "PrometheusConfig",
    "SecretRef",
    "ServeConfig",
    "SlackConfig",
    "SlackRoles",
    "Step",
    "Webhook",
    "compile_expression",
    "load",
    "parse",
    "resolve_path",
    "slack_channel_problem",
]
