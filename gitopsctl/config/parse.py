"""A parsed TOML document to a ``Config``: every table read in one pass, every problem reported at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .access import read_people, read_slack
from .delivery import read_app, read_environment, read_git, read_template
from .health import read_health
from .model import AnalysisTemplate, Config, DriftConfig, PrometheusConfig, ServeConfig, SlackConfig
from .reader import Reader, named_tables
from .runtime import read_drift, read_prometheus, read_serve


def parse(data: dict[str, Any], *, source: str = "", base_dir: Path | None = None) -> Config:
    """Validate a parsed TOML document; raises ConfigError listing every problem."""
    errors: list[str] = []
    base_dir = base_dir or Path.cwd()
    top = Reader(data, "", errors)
    git = read_git(top.table("git"), base_dir, errors)

    people = read_people(top.table("people"))
    groups: dict[str, tuple[str, ...]] = {}
    if (groups_reader := top.table("groups")) is not None:
        for name in groups_reader.data:
            groups[name] = groups_reader.strings(name)
        groups_reader.finish()

    templates: dict[str, AnalysisTemplate] = {}
    pass_score, marginal_score = 95, 75
    if (analysis := top.table("analysis")) is not None:
        for name, sub in named_tables(analysis.table("templates"), "analysis template").items():
            templates[name] = read_template(name, sub)
        pass_score = analysis.integer("pass_score", default=95, minimum=0, maximum=100)
        marginal_score = analysis.integer("marginal_score", default=75, minimum=0, maximum=100)
        if marginal_score > pass_score:
            analysis.error("marginal_score", f"must not be above pass_score ({pass_score})")
        analysis.finish()

    env_readers = named_tables(top.table("environments", required=True), "environment")
    environments = {name: read_environment(name, sub, base_dir, groups) for name, sub in env_readers.items()}
    if not env_readers and "environments" in data:
        errors.append("environments: define at least one environment")

    app_readers = named_tables(top.table("apps", required=True), "app")
    apps = {name: read_app(name, sub, environments, templates) for name, sub in app_readers.items()}
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

    sr = top.table("slack")
    slack = read_slack(sr, environments, people) if sr is not None else SlackConfig()
    dr = top.table("drift")
    drift = read_drift(dr) if dr is not None else DriftConfig()
    sv = top.table("serve")
    serve = read_serve(sv, base_dir) if sv is not None else ServeConfig()
    pr = top.table("prometheus")
    prometheus_url, prometheus = read_prometheus(pr, base_dir) if pr is not None else (None, PrometheusConfig())
    hr = top.table("health")
    health = read_health(hr) if hr is not None else {}
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
        health,
    )
