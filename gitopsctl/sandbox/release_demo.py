"""``gitopsctl demo --headless``: a release from dev to prod, a bad one rolled back, drift reported and healed.

All on 127.0.0.1 and stopped on exit: the sandbox cluster, a real GitOps
repository, the traffic simulator, the real Prometheus server (the analysis
reads the simulator's JSON with the web provider when Prometheus is not
installed, and says so), the rollout controller loop and the watches that
report drift. Exits 0 when every step behaved as expected.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import TextIO

from .. import config as config_module
from ..drift import AppDrift
from ..drift_reports import DriftReports, Incident
from ..engine import Engine
from ..rollout.loop import ReconcileLoop
from ..watch import DriftWatcher
from .cluster import Sandbox, Timing
from .prometheus import PrometheusServer
from .seed import ENVIRONMENTS, config_text, seed
from .traffic import TrafficSimulator

GOOD, BAD = "v1.4.2", "v1.4.3-bad"
PROMETHEUS_ANALYSIS = """
[prometheus]
url = "{url}"

[analysis.templates.success-rate]
provider = "prometheus"
query = 'sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="{{{{track}}}}",code!~"5.."}}[4s])) / sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="{{{{track}}}}"}}[4s]))'
interval = "1s"
count = 3
success_condition = "result >= 0.95"
inconclusive_limit = 20
"""
WEB_ANALYSIS = """
[analysis.templates.success-rate]
provider = "web"
url = "{url}/stats.json"
query = "by_track.{{{{app}}}}/{{{{env}}}}/{{{{track}}}}.success_rate"
interval = "1s"
count = 3
success_condition = "result >= 0.95"
inconclusive_limit = 20
consecutive_error_limit = 10
"""
CANARY = """
[apps.trade-service.canary]
steps = [{ set_weight = 34 }, { analysis = "success-rate" }, { set_weight = 67 }, { pause = "1s" }, { set_weight = 100 }]

[apps.pricing-api.canary]
steps = [{ set_weight = 50 }, { set_weight = 100 }]

[apps.ledger-worker.canary]
steps = [{ set_weight = 50 }, { set_weight = 100 }]
"""


class DemoFailed(Exception):
    """A step did not behave as it should."""


class _Printer:
    """The drift notifier of the demo: reports go to the terminal."""

    def __init__(self, say) -> None:
        self.say = say
        self.opened: list[str] = []
        self.resolved: list[str] = []

    def drift_opened(self, incident: Incident, drift: AppDrift, healed) -> dict[str, str]:
        self.opened.append(f"{incident.app}/{incident.env}")
        self.say(f"  drift report: {incident.app} in {incident.env}, {len(drift.resources)} object(s) differ from Git")
        for resource in drift.resources:
            who = f" by {resource.changed_by}" if resource.changed_by else ""
            for change in resource.fields:
                self.say(
                    f"    {resource.ref.kind}/{resource.ref.name} {change.path}: Git {change.desired!r}, live {change.live!r}{who}"
                )
        return {}

    def drift_details(self, incident: Incident, drift: AppDrift) -> None:
        pass

    def drift_changed(self, incident: Incident, drift: AppDrift, *, reminder: bool) -> None:
        pass

    def drift_resolved(self, incident: Incident, how: str) -> None:
        self.resolved.append(f"{incident.app}/{incident.env}")
        self.say(f"  drift resolved: {incident.app} in {incident.env} ({how})")

    def summary(self, env: str, lines: list[str]) -> None:
        pass


def run(out: TextIO = sys.stdout, analysis_provider: str | None = None) -> int:
    """The scenario; ``analysis_provider`` is "prometheus" or "web" (default: Prometheus when it is installed)."""

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    with tempfile.TemporaryDirectory(prefix="gitopsctl-demo-") as tmp_name:
        tmp = Path(tmp_name)
        with Sandbox.start(tmp / "cluster", timing=Timing(ready_delay=0.2, restart_interval=0.3)) as sandbox:
            simulator = TrafficSimulator(sandbox.store).start()
            prometheus = None
            provider = analysis_provider or ("prometheus" if shutil.which("prometheus") else "web")
            try:
                if provider == "prometheus":
                    if not shutil.which("prometheus"):
                        raise DemoFailed(
                            "the Prometheus server is not installed: apt-get install prometheus, or --analysis web"
                        )
                    prometheus = PrometheusServer(tmp / "prometheus", [simulator.target]).start()
                    analysis = PROMETHEUS_ANALYSIS.format(url=prometheus.url)
                    say(f"analysis: the real Prometheus server at {prometheus.url}, scraping the traffic simulator")
                else:
                    analysis = WEB_ANALYSIS.format(url=simulator.url)
                    say(f"analysis: the web provider reading the traffic simulator's {simulator.url}/stats.json")
                repo = seed(tmp)
                text = config_text(repo.url, sandbox.kubeconfig, tmp / "cache").replace(
                    'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
                )
                config_path = tmp / "gitopsctl.toml"
                config_path.write_text(text + analysis + textwrap.dedent(CANARY))
                engine = Engine(config_module.load(str(config_path)))
                _scenario(engine, sandbox, say)
            except DemoFailed as e:
                say(f"\ndemo failed: {e}")
                return 1
            finally:
                if prometheus is not None:
                    prometheus.stop()
                simulator.stop()
    say("\neverything stopped; the demo behaved as expected.")
    return 0


def _wait_rollout(engine: Engine, app: str, env: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rollout = engine.rollouts.get(app, env)
        if rollout is not None and not rollout.active:
            return rollout
        time.sleep(0.3)
    raise DemoFailed(f"the rollout of {app} in {env} did not finish in {timeout:g}s")


def _scenario(engine: Engine, sandbox: Sandbox, say) -> None:
    say("\n1. Sync every app into every environment")
    for env in ENVIRONMENTS:
        for app in engine.config.apps:
            result = engine.sync(app, env, wait=True, timeout=60, actor="demo")
            if result.result != "Succeeded":
                raise DemoFailed(f"{app} in {env} did not sync: {result.message}")
    say(f"  {len(engine.config.apps)} apps Healthy in {', '.join(ENVIRONMENTS)}")

    engine.subscribe(lambda rollout, text: say(f"    [{rollout.app} {rollout.env}] {text}"))
    loop = ReconcileLoop(engine, 0.3).start()
    printer = _Printer(say)
    reports = DriftReports(engine, printer)
    watcher = DriftWatcher(engine, reports.check)
    try:
        _release(engine, say)
        _rollback(engine, say)
        watcher.start()
        _drift(engine, sandbox, reports, printer, say)
    finally:
        watcher.stop()
        loop.stop()


def _release(engine: Engine, say) -> None:
    say(f"\n2. trade-service {GOOD}: dev -> staging -> prod, a canary in prod")
    for env in ("dev", "staging"):
        result = engine.deploy("trade-service", env, GOOD, actor="demo")
        say(f"  {result.status}: trade-service {GOOD} in {env} (commit {(result.commit or '')[:12]})")
        if result.status != "Deployed":
            raise DemoFailed(f"the deploy to {env} ended {result.status}: {result.message}")
    result = engine.deploy("trade-service", "prod", GOOD, actor="demo")
    rollout = _wait_rollout(engine, "trade-service", "prod")
    say(f"  {rollout.phase}: trade-service {GOOD} in prod, {rollout.weight}% of traffic")
    if rollout.phase != "Promoted":
        raise DemoFailed(f"the good version ended {rollout.phase}: {rollout.message}")


def _rollback(engine: Engine, say) -> None:
    say(f"\n3. trade-service {BAD}: it serves errors; the canary is rolled back automatically")
    for env in ("dev", "staging"):
        engine.deploy("trade-service", env, BAD, actor="demo")
    engine.deploy("trade-service", "prod", BAD, actor="demo")
    rollout = _wait_rollout(engine, "trade-service", "prod")
    say(f"  {rollout.phase}: {rollout.message}")
    say(f"  reverted in Git by {(rollout.revert_commit or '')[:12]}; prod runs {rollout.stable_version} again")
    if rollout.phase != "Aborted" or " < " not in rollout.message or not rollout.revert_commit:
        raise DemoFailed(f"the bad version was not rolled back with its numbers: {rollout.phase} {rollout.message}")
    if engine.status("trade-service", "prod")[0].version != GOOD:
        raise DemoFailed("prod does not run the good version after the rollback")


def _drift(engine: Engine, sandbox: Sandbox, reports: DriftReports, printer: _Printer, say) -> None:
    say("\n4. Someone scales trade-service in prod by hand")
    reports.scan("prod")  # the baseline: no incident
    from kubernetes import client as k8s
    from kubernetes import config as kube_config

    apps = k8s.AppsV1Api(kube_config.new_client_from_config(str(sandbox.kubeconfig)))
    apps.patch_namespaced_deployment(
        "trade-service", "trading-prod", {"spec": {"replicas": 5}}, field_manager="kubectl-edit"
    )
    deadline = time.monotonic() + 30
    while "trade-service/prod" not in printer.opened and time.monotonic() < deadline:
        time.sleep(0.1)
    if "trade-service/prod" not in printer.opened:
        raise DemoFailed("the hand-made change was not reported")
    result = engine.sync("trade-service", "prod", wait=True, timeout=60, actor="demo")
    say(f"  healed by a sync: {len(result.applied)} object(s) applied, health {result.health}")
    reports.check("trade-service", "prod", how="synced by demo")
    if "trade-service/prod" not in printer.resolved:
        raise DemoFailed("the drift was not resolved by the sync")
