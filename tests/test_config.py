"""Configuration: the example validates, and every error names its key path."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from gitopsctl import config
from gitopsctl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"

MINIMAL = textwrap.dedent(
    """
    [git]
    url = "https://git.example.com/gitops.git"

    [environments.dev]
    context = "dev"

    [environments.prod]
    context = "prod"
    strategy = "canary"

    [analysis.templates.success-rate]
    query = "up"
    success_condition = "result >= 0.99"

    [apps.trade-service]
    path = "apps/trade-service/{env}"

    [apps.trade-service.canary]
    steps = [{ set_weight = 10 }, { analysis = "success-rate" }, { set_weight = 140 }]
    """
)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        config.parse(tomllib.loads(text))
    return err.value.problems


def test_the_example_is_valid_and_complete():
    cfg = config.load(str(EXAMPLE))
    assert cfg.promotion_chain == ("dev", "staging", "prod")
    assert cfg.environments["dev"].auto_deploy is True
    assert cfg.environments["staging"].approval.required == 1
    prod = cfg.environments["prod"]
    assert prod.strategy == "canary" and prod.approval.groups == ("sre",)
    assert prod.freeze[0].days == ("fri",) and prod.freeze[0].timezone == "Europe/London"
    assert "trade-service" in cfg.apps and len(cfg.apps) == 3
    steps = cfg.apps["trade-service"].canary.steps
    assert steps[0].set_weight == 10 and steps[1].pause == 120 and steps[7].pause_indefinitely
    assert steps[5].judge == ("latency-vs-stable",)
    assert set(cfg.analysis) == {"success-rate", "p99-latency", "error-rate-trend", "latency-vs-stable"}
    assert cfg.analysis["latency-vs-stable"].judge == "increase" and (cfg.pass_score, cfg.marginal_score) == (95, 75)
    assert cfg.slack.bot_token.env_var == "SLACK_BOT_TOKEN"
    assert cfg.drift.interval == 180 and cfg.drift.summary_cron
    assert cfg.apps["trade-service"].path_for("prod") == "apps/trade-service/prod"
    prod_roles = cfg.slack.roles_for("prod")
    assert prod_roles.members("deployer") == ("S02ONCALL", "S03SRE") and prod_roles.members("approver") == ("S03SRE",)
    assert cfg.slack.roles_for("dev").members("deployer") == ("*",)
    assert cfg.git.link("abc123") == "https://git.example.com/platform/gitops/commit/abc123"
    assert (cfg.serve.lease_duration, cfg.serve.renew_deadline, cfg.serve.retry_period) == (15, 10, 2)
    assert cfg.serve.metrics_port == 9102 and cfg.serve.watch


def test_an_out_of_range_weight_names_its_key_path():
    assert problems(MINIMAL) == ["apps.trade-service.canary.steps[2].set_weight: must be between 0 and 100 (got 140)"]


def test_every_error_is_listed_at_once():
    broken = MINIMAL.replace('context = "dev"', 'context = "dev"\nauto_deploi = true').replace(
        'strategy = "canary"', 'strategy = "blue-green"'
    )
    found = problems(broken)
    assert 'environments.dev.auto_deploi: unknown key (did you mean "auto_deploy"?)' in found
    assert 'environments.prod.strategy: must be one of direct, canary (got "blue-green")' in found
    assert "apps.trade-service.canary.steps[2].set_weight: must be between 0 and 100 (got 140)" in found


def test_names_must_be_dns_labels():
    found = problems(
        MINIMAL.replace("[apps.trade-service]", "[apps.Trade_Service]").replace(
            "[apps.trade-service.canary]", "[apps.Trade_Service.canary]"
        )
    )
    assert any(p.startswith('apps.Trade_Service: app name "Trade_Service" is not a valid name') for p in found)


def test_secrets_must_be_environment_references(monkeypatch):
    found = problems(
        MINIMAL.replace("set_weight = 140", "set_weight = 100") + '\n[slack]\nbot_token = "xoxb-123-secret"\n'
    )
    assert found == [
        'slack.bot_token: must be an environment variable reference such as "${SLACK_BOT_TOKEN}"; '
        "secrets never live in the configuration file"
    ]
    cfg = config.parse(
        tomllib.loads(
            MINIMAL.replace("set_weight = 140", "set_weight = 100") + '\n[slack]\nbot_token = "${MY_TOKEN}"\n'
        )
    )
    monkeypatch.setenv("MY_TOKEN", "xoxb-live")
    assert cfg.slack.bot_token.resolve() == "xoxb-live"
    assert "xoxb-live" not in repr(cfg)
    monkeypatch.delenv("MY_TOKEN")
    with pytest.raises(ConfigError, match="environment variable MY_TOKEN is not set"):
        cfg.slack.bot_token.resolve()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("steps = [", 'steps = [{ analysis = "nope" }, '),
            'apps.trade-service.canary.steps[0].analysis: "nope" is not an analysis template defined under [analysis.templates]',
        ),
        (
            ("steps = [", 'steps = [{ pause = "soon" }, '),
            'apps.trade-service.canary.steps[0].pause: "soon" is not a duration; write it like 30s, 2m, 1h30m or 1d',
        ),
        (
            ("steps = [", 'steps = [{ set_weight = 5, pause = "1m" }, '),
            "apps.trade-service.canary.steps[0]: each step needs exactly one of set_weight, pause, analysis or judge (got set_weight, pause)",
        ),
        (
            ('path = "apps/trade-service/{env}"', 'path = "../outside/{env}"'),
            'apps.trade-service.path: "../outside/{env}" must be a relative path inside the repository',
        ),
        (
            (
                'path = "apps/trade-service/{env}"',
                'path = "apps/trade-service/{env}"\nvalues = ["../values-{env}.yaml"]',
            ),
            'apps.trade-service.values[0]: "../values-{env}.yaml" must be a relative path inside the app\'s path, '
            'such as "values-{env}.yaml"',
        ),
        (
            ('path = "apps/trade-service/{env}"', 'path = "apps/trade-service/{env}"\nvalues = ["/etc/values.yaml"]'),
            'apps.trade-service.values[0]: "/etc/values.yaml" must be a relative path inside the app\'s path, '
            'such as "values-{env}.yaml"',
        ),
        (
            ('path = "apps/trade-service/{env}"', 'path = "apps/trade-service/{env}"\nvalues = ["env\\\\prod.yaml"]'),
            'apps.trade-service.values[0]: "env\\prod.yaml" must be a relative path inside the app\'s path, '
            'such as "values-{env}.yaml"',
        ),
        (
            (
                'path = "apps/trade-service/{env}"',
                'path = "apps/trade-service/{env}"\nvalues = ["values-{region}.yaml"]',
            ),
            'apps.trade-service.values[0]: "values-{region}.yaml" may only use the placeholders {env} and {app}',
        ),
        (
            ('success_condition = "result >= 0.99"', 'success_condition = "rate > 1"'),
            'analysis.templates.success-rate.success_condition: "rate > 1" uses "rate"; conditions may use result (and gitopsctl\'s results and stable)',
        ),
        (
            ('context = "prod"', 'context = "prod"\nslack_channel = "general"'),
            'environments.prod.slack_channel: "general" is not a Slack channel: use "#name" or a channel ID such as C0123456',
        ),
        (
            ("[apps.trade-service]", '[slack.roles.prod]\ndeployers = ["alice"]\n\n[apps.trade-service]'),
            'slack.roles.prod.deployers[0]: "alice" is not a Slack user ID (U...), user group ID (S...), "*" or a name '
            'from [people]; find IDs in a profile\'s "Copy member ID"',
        ),
        (
            ("[apps.trade-service]", '[slack.roles.qa]\ndeployers = ["*"]\n\n[apps.trade-service]'),
            'slack.roles.qa: "qa" is not an environment defined under [environments]',
        ),
        (
            (
                'url = "https://git.example.com/gitops.git"',
                'url = "https://git.example.com/gitops.git"\ncommit_url = "https://x.example/commit"',
            ),
            'git.commit_url: must contain "{sha}" where the commit goes',
        ),
        (
            ("[apps.trade-service]", '[serve]\nlease_duration = "5s"\nrenew_deadline = "10s"\n\n[apps.trade-service]'),
            "serve.lease_duration: needs lease_duration > renew_deadline > 1.2 x retry_period and retry_period >= 1s "
            "(got 5s, 10s, 2s)",
        ),
        (
            ("steps = [", 'traffic_router = "gateway"\nsteps = ['),
            'apps.trade-service.canary.gateway: required with traffic_router = "gateway": the Gateway its HTTPRoute '
            "attaches to, as NAME or NAMESPACE/NAME",
        ),
        (
            ("steps = [", 'gateway = "infra/public"\nsteps = ['),
            'apps.trade-service.canary.gateway: only the "gateway" traffic router uses it; remove it or set '
            'traffic_router = "gateway"',
        ),
        (
            ("steps = [", 'traffic_router = "gateway"\ngateway = "a/b/c"\nsteps = ['),
            'apps.trade-service.canary.gateway: must be a Gateway as NAME or NAMESPACE/NAME (got "a/b/c")',
        ),
    ],
)
def test_specific_errors(edit, expected):
    text = MINIMAL.replace("set_weight = 140", "set_weight = 100").replace(*edit)
    assert expected in problems(text)


def test_values_files_fill_in_the_environment_and_the_app():
    text = MINIMAL.replace("set_weight = 140", "set_weight = 100").replace(
        'path = "apps/trade-service/{env}"',
        'path = "charts/{app}"\nvalues = ["values.yaml", "{app}/values-{env}.yaml"]',
    )
    app = config.parse(tomllib.loads(text)).apps["trade-service"]
    assert app.values_for("prod") == ("values.yaml", "trade-service/values-prod.yaml")


def test_a_version_path_names_a_values_file_and_its_keys():
    text = MINIMAL.replace("set_weight = 140", "set_weight = 100").replace(
        'path = "apps/trade-service/{env}"',
        'path = "charts/{app}"\nvalues = ["values-{env}.yaml"]\nversion_path = "values-{env}.yaml:image.tag"',
    )
    where = config.parse(tomllib.loads(text)).apps["trade-service"].version_at("prod")
    assert (where.file, where.keys, str(where)) == ("values-prod.yaml", ("image", "tag"), "values-prod.yaml:image.tag")


@pytest.mark.parametrize(
    ("version_path", "expected"),
    [
        (
            "values-{env}.yaml",
            '"values-{env}.yaml" must be a values file and the dotted keys of the version in it, such as '
            '"values-{env}.yaml:image.tag"',
        ),
        ("values-{env}.yaml:image..tag", "must be a values file and the dotted keys"),
        ("../values.yaml:image.tag", '"../values.yaml" must be a relative path inside the app\'s path'),
        ("{env.__class__}.yaml:image.tag", "may only use the placeholders {env} and {app}"),
        (
            "values-pinned.yaml:image.tag",
            '"values-pinned.yaml" is not one of the app\'s values files, so a version written there would not be '
            "deployed; add it to values or name one of them",
        ),
    ],
)
def test_a_bad_version_path_is_one_sentence(version_path, expected):
    text = MINIMAL.replace("set_weight = 140", "set_weight = 100").replace(
        'path = "apps/trade-service/{env}"',
        f'path = "charts/{{app}}"\nvalues = ["values-{{env}}.yaml"]\nversion_path = "{version_path}"',
    )
    assert any(expected in problem for problem in problems(text)), problems(text)


@pytest.mark.parametrize("values", ["{env:.>2.0}/secrets.yaml", "{app!r}.yaml", "values-{0}.yaml"])
def test_a_values_file_may_only_use_the_placeholders_as_they_are(values):
    text = MINIMAL.replace("set_weight = 140", "set_weight = 100").replace(
        'path = "apps/trade-service/{env}"', f'path = "charts/{{app}}"\nvalues = ["{values}"]'
    )
    assert any("may only use the placeholders {env} and {app}" in p for p in problems(text)), problems(text)


def test_a_canary_environment_requires_the_app_to_define_steps():
    text = MINIMAL.split("[apps.trade-service.canary]")[0]
    assert problems(text) == [
        "apps.trade-service.canary: required because environment prod uses the canary strategy; add [apps.trade-service.canary] with steps"
    ]


def test_config_path_resolution(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITOPSCTL_CONFIG", raising=False)
    assert config.resolve_path(None) == Path("gitopsctl.toml")
    monkeypatch.setenv("GITOPSCTL_CONFIG", "/etc/gitopsctl.toml")
    assert config.resolve_path(None) == Path("/etc/gitopsctl.toml")
    assert config.resolve_path("explicit.toml") == Path("explicit.toml")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gitopsctl", *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_config_check_exits_0_for_the_example():
    result = run_cli("config", "check", "--config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "valid (3 environments, 3 apps" in result.stdout


def test_config_check_exits_2_listing_every_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace('context = "dev"', 'context = "dev"\ncolour = "blue"'))
    result = run_cli("--config", str(bad), "config", "check")
    assert result.returncode == 2
    assert "2 configuration errors" in result.stderr
    assert "environments.dev.colour: unknown key" in result.stderr
    assert "steps[2].set_weight: must be between 0 and 100 (got 140)" in result.stderr


def test_config_check_explains_a_missing_file(tmp_path):
    result = run_cli("config", "check", cwd=tmp_path)
    assert result.returncode == 2
    assert "no configuration at gitopsctl.toml: pass --config PATH, set GITOPSCTL_CONFIG" in result.stderr


def test_invalid_toml_is_reported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[git\nurl=")
    result = run_cli("config", "check", "--config", str(bad))
    assert result.returncode == 2 and "not valid TOML" in result.stderr


def test_a_judge_step_needs_judge_templates_and_scores_are_ordered():
    text = MINIMAL.replace("set_weight = 140", "set_weight = 100").replace(
        '{ analysis = "success-rate" }', '{ judge = ["success-rate"] }'
    )
    assert problems(text) == [
        'apps.trade-service.canary.steps[1].judge[0]: "success-rate" is not an analysis template with judge = "increase", "decrease" or "either"'
    ]
    text = MINIMAL.replace("set_weight = 140", "set_weight = 100").replace(
        "[analysis.templates.success-rate]",
        "[analysis]\npass_score = 70\nmarginal_score = 80\n\n[analysis.templates.success-rate]",
    )
    assert problems(text) == ["analysis.marginal_score: must not be above pass_score (70)"]
