"""`gitopsctl import` end to end: the CLI writes configuration that passes `config check`, and an imported Argo
Rollout runs as the same canary in the sandbox (its weights, pauses and analysis, measured by the real Prometheus)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import tomlkit

from gitopsctl import config as config_module
from gitopsctl.cli.main import main
from gitopsctl.engine import Engine
from standins.prometheus import PrometheusServer
from standins.traffic import TrafficSimulator
from tests.conftest import require_prometheus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "argo"
ARTICLE_002 = [str(FIXTURES / "002-trade-service-application.yaml"), str(FIXTURES / "002-trade-service-rollout.yaml")]


@pytest.fixture
def gitopsctl(capsys):
    """The command line in this process (its parser and exit codes, quicker than a process per call)."""

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def test_the_console_script_imports_into_a_new_file_that_passes_config_check(tmp_path, gitopsctl):
    out = tmp_path / "gitopsctl.toml"
    result = subprocess.run(
        [sys.executable, "-m", "gitopsctl", "import", "argo-rollouts", *ARTICLE_002, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"imported 1 app and 2 analysis templates into {out}; 17 fields not imported")
    assert "\n  Application trade-service (" in result.stderr
    assert "\n    not imported: spec.source.helm.parameters (gitopsctl sets no values" in result.stderr
    assert 'values = ["values.yaml", "values-production.yaml"]' in out.read_text()  # helm.valueFiles, in order
    check = gitopsctl("config", "check", "--config", str(out))
    assert check.returncode == 0, check.stderr
    assert "valid (1 environments, 1 apps, 2 analysis templates" in check.stdout
    written = out.read_text()
    assert "# not imported: spec.strategy.canary.trafficRouting.istio.virtualServices (" in written
    assert tomllib.loads(written)["apps"]["trade-service"]["canary"]["traffic_router"] == "istio"


def test_import_prints_by_default_and_never_overwrites_a_file_without_force(tmp_path, gitopsctl):
    out = tmp_path / "gitopsctl.toml"
    out.write_text("# someone's configuration\n")
    printed = gitopsctl("import", "argo-rollouts", *ARTICLE_002)
    assert printed.returncode == 0 and tomllib.loads(printed.stdout)["apps"]["trade-service"]
    again = gitopsctl("import", "argocd", ARTICLE_002[0], "--write", str(out))
    assert (again.returncode, again.stderr.strip()) == (2, f"{out} exists; pass --force to overwrite it")
    assert out.read_text() == "# someone's configuration\n"
    forced = gitopsctl("import", "argocd", ARTICLE_002[0], "--write", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "[apps.trade-service]" in out.read_text() and "[analysis" not in out.read_text()
    assert gitopsctl("config", "check", "--config", str(out)).returncode == 0


@pytest.mark.parametrize(
    ("command", "file", "message"),
    [
        ("argocd", "002-trade-service-rollout.yaml", "document 1 is a Rollout, which `gitopsctl import argocd` does"),
        (
            "argo-rollouts",
            "argo-rollouts-canary.yaml",
            "pass --git-url URL and --path PATH, or the Argo CD Application",
        ),
    ],
)
def test_refused_input_is_one_sentence_exit_2_and_nothing_written(tmp_path, gitopsctl, command, file, message):
    out = tmp_path / "out.toml"
    result = gitopsctl("import", command, str(FIXTURES / file), "-o", str(out))
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


ROLLOUT = textwrap.dedent(
    """\
    # trade-service as a team running Argo Rollouts would have it: the steps, a step analysis and a background one
    apiVersion: argoproj.io/v1alpha1
    kind: Rollout
    metadata:
      name: trade-service
      namespace: trading-prod
    spec:
      replicas: 3
      selector:
        matchLabels: {{app: trade-service}}
      template:
        metadata:
          labels: {{app: trade-service}}
        spec:
          containers:
            - name: trade-service
              image: registry.local/trade-service:v1.4.1
      strategy:
        canary:
          analysis:
            templates:
              - templateName: error-rate
            args:
              - name: service-name
                value: trade-service
          steps:
            - setWeight: 34
            - pause: {{duration: 1}}
            - analysis:
                templates:
                  - templateName: success-rate
                args:
                  - name: service-name
                    value: trade-service
                  - name: env
                    value: prod
            - setWeight: 67
            - pause: {{duration: 1s}}
            - setWeight: 100
    ---
    apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata:
      name: success-rate
    spec:
      args:
        - name: service-name
        - name: env
      metrics:
        - name: success-rate
          interval: 1s
          count: 3
          inconclusiveLimit: 10
          consecutiveErrorLimit: 2
          successCondition: result >= 0.95
          provider:
            prometheus:
              address: {url}
              query: >-
                sum(rate(http_requests_total{{app="{{{{args.service-name}}}}",env="{{{{args.env}}}}",track="canary",code!~"5.."}}[4s]))
                / sum(rate(http_requests_total{{app="{{{{args.service-name}}}}",env="{{{{args.env}}}}",track="canary"}}[4s]))
    ---
    apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata:
      name: error-rate
    spec:
      args:
        - name: service-name
      metrics:
        - name: error-rate
          interval: 2s
          failureCondition: result > 0.5
          provider:
            prometheus:
              address: {url}
              query: >-
                sum(rate(http_requests_total{{app="{{{{args.service-name}}}}",track="canary",code=~"5.."}}[4s]))
                / sum(rate(http_requests_total{{app="{{{{args.service-name}}}}",track="canary"}}[4s]))
    """
)


@pytest.fixture
def imported_fleet(fleet, tmp_path, gitopsctl):
    """The sandbox fleet run by nothing but the configuration imported from an Argo Rollout, with the sandbox's
    kubeconfig and a cache directory added (what no Argo manifest can say)."""
    require_prometheus()
    simulator = TrafficSimulator(fleet.sandbox.store).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", [simulator.target]).start()
    try:
        source = tmp_path / "rollout.yaml"
        source.write_text(ROLLOUT.format(url=prometheus.url))
        out = tmp_path / "imported.toml"
        arguments = ("--git-url", fleet.repo.url, "--path", "apps/{app}/{env}", "--env", "prod", "--context", "sandbox")
        result = gitopsctl("import", "argo-rollouts", str(source), *arguments, "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert gitopsctl("config", "check", "--config", str(out)).returncode == 0
        imported = tomllib.loads(out.read_text())
        run = tomlkit.parse(out.read_text())
        run["git"]["cache_dir"] = str(tmp_path / "cache")
        run["environments"]["prod"]["kubeconfig"] = str(fleet.sandbox.kubeconfig)
        path = tmp_path / "run.toml"
        path.write_text(tomlkit.dumps(run))
        engine = Engine(config_module.load(str(path)))
        engine.sync("trade-service", "prod", wait=True, timeout=30)
        yield engine, imported
    finally:
        prometheus.stop()
        simulator.stop()


def test_the_imported_rollout_runs_the_same_canary_in_the_sandbox(imported_fleet):
    engine, imported = imported_fleet
    canary = imported["apps"]["trade-service"]["canary"]
    assert canary == {
        "background_analysis": ["error-rate"],
        "steps": [
            {"set_weight": 34},
            {"pause": "1s"},
            {"analysis": "success-rate"},
            {"set_weight": 67},
            {"pause": "1s"},
            {"set_weight": 100},
        ],
    }
    query = imported["analysis"]["templates"]["success-rate"]["query"]
    assert 'app="{{app}}",env="{{env}}"' in query  # the arguments' values are the app and the environment

    result = engine.deploy("trade-service", "prod", "v1.4.2", actor="alice", wait=True, timeout=120)
    assert (result.status, result.rollout.phase) == ("Deployed", "Promoted"), result.message
    events = result.rollout.events
    weights = [int(w) for e in events for w in re.findall(r"canary weight set to (\d+)%", e)]
    assert weights == [s["set_weight"] for s in canary["steps"] if "set_weight" in s]
    done = [m.group(1) for e in events if (m := re.search(r"step \d+ done \((.*)\)$", e))]
    assert done == [
        "34% of traffic on the canary",
        "pause of 1s done",
        "analysis success-rate passed",
        "67% of traffic on the canary",
        "pause of 1s done",
        "100% of traffic on the canary",
    ]
    measured = {m.metric for m in result.rollout.measurements}
    assert measured == {"success-rate", "error-rate"}
    assert [m.phase for m in result.rollout.measurements if m.metric == "success-rate"].count("Successful") == 3


def test_the_imported_analysis_aborts_a_bad_version_at_the_imported_weight(imported_fleet):
    engine, _ = imported_fleet
    result = engine.deploy("trade-service", "prod", "v1.4.2-bad", actor="alice", wait=True, timeout=120)
    assert (result.status, result.rollout.phase) == ("Aborted", "Aborted")
    assert re.fullmatch(r"success-rate 0\.\d+ < 0\.95 at 34% traffic", result.message), result.message
