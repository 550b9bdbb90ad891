"""``gitopsctl demo``: a release from dev to prod, a bad one rolled back, drift reported and healed, and a CI commit
delivered through the canary by itself.

``DemoWorld`` starts everything on 127.0.0.1 and stops it on exit: the sandbox
cluster, a real GitOps repository, the traffic simulator, the real Prometheus
server (the analysis reads the simulator's JSON with the web provider when
Prometheus is not installed, and says so), and the apps synced everywhere.
``DemoController`` is the rollout controller loop, the watches that report
drift and the follower that delivers Git changes (prod has ``sync = "auto"``). The console (``demo.console``) drives the same steps from keys;
``headless`` runs them in order and exits 0 when every step behaved as expected.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import git

from gitopsctl import config as config_module
from gitopsctl.drift.incidents import DriftReports
from gitopsctl.drift.model import AppDrift
from gitopsctl.drift.settle import Incident
from gitopsctl.drift.watch import DriftWatcher
from gitopsctl.engine import Engine
from gitopsctl.errors import UsageError
from gitopsctl.rollout.loop import ReconcileLoop
from gitopsctl.serve.follow import Follower
from gitopsctl.source.helm import helm_binary
from kubesandbox import Sandbox, Timing
from standins.prometheus import PrometheusServer
from standins.traffic import TrafficSimulator

from .seed import CHART_APP, CHART_APP_TOML, ENVIRONMENTS, chart_files, config_text, migration_files, seed

APP = "trade-service"
CI_AUTHOR = git.Actor("CI", "ci@trading.example")
CI_FILE = f"apps/{APP}/prod/deployment.yaml"
PROMETHEUS_ANALYSIS = """
[prometheus]
url = "{url}"

[analysis.templates.success-rate]
provider = "prometheus"
query = 'sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="{{{{track}}}}",code!~"5.."}}[4s])) / sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="{{{{track}}}}"}}[4s]))'
interval = "1s"
initial_delay = "4s"
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


SLACK = """
[slack]
default_channel = "{channel}"
{roles}
"""
# the demo's own sandbox: anyone in the workspace may deploy and approve there
SLACK_ROLES = '[slack.roles.{env}]\ndeployers = ["*"]\napprovers = ["*"]\n'


class DemoFailed(Exception):
    """A step did not behave as it should."""


class SayNotifier:
    """The drift notifier of the demo without Slack: reports are lines for the terminal or the console's log."""

    def __init__(self, say: Callable[[str], None]) -> None:
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
        if reminder:
            self.say(f"  drift reminder: {incident.app} in {incident.env} still differs from Git")

    def drift_resolved(self, incident: Incident, how: str) -> None:
        self.resolved.append(f"{incident.app}/{incident.env}")
        self.say(f"  drift resolved: {incident.app} in {incident.env} ({how})")

    def summary(self, env: str, lines: list[str]) -> None:
        pass

    def change_followed(self, outcome) -> None:
        commit = f" {outcome.commits[0].sha[:12]} by {outcome.commits[0].author}" if outcome.commits else ""
        self.say(f"  followed Git:{commit}: {outcome.app} in {outcome.env} {outcome.state}: {outcome.message}")


class DemoWorld:
    """The sandbox, the GitOps repository, the simulator and the analysis server, with every app synced.

    ``say`` may be swapped while it runs (the console sends lines to its log);
    ``pause`` is the canary's pause step, longer when a person watches.
    """

    def __init__(
        self,
        say: Callable[[str], None],
        *,
        analysis_provider: str | None = None,
        pause: str = "1s",
        slack_channel: str | None = None,
    ) -> None:
        self.say = say
        self.provider = analysis_provider or ("prometheus" if shutil.which("prometheus") else "web")
        if self.provider == "prometheus" and not shutil.which("prometheus"):
            raise UsageError(
                "the Prometheus server is not installed: apt-get install prometheus, or use --analysis web"
            )
        self.pause = pause
        self.slack_channel = slack_channel
        self._stack = contextlib.ExitStack()
        self.stopping = threading.Event()  # set on the way out: a step in progress ends instead of waiting
        self.analysis_line = self.analysis_short = ""

    def __enter__(self) -> DemoWorld:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self._stack.close()

    def _start(self) -> None:
        stack = self._stack
        self.root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gitopsctl-demo-")))
        self.sandbox = stack.enter_context(
            Sandbox.start(self.root / "cluster", timing=Timing(ready_delay=0.2, restart_interval=0.3))
        )
        self.simulator = TrafficSimulator(self.sandbox.store).start()
        stack.callback(self.simulator.stop)
        if self.provider == "prometheus":
            prometheus = PrometheusServer(self.root / "prometheus", [self.simulator.target]).start()
            stack.callback(prometheus.stop)
            analysis = PROMETHEUS_ANALYSIS.format(url=prometheus.url)
            self.analysis_line = f"the real Prometheus server at {prometheus.url}, scraping the simulator"
            self.analysis_short = f"Prometheus at {prometheus.url}"
        else:
            analysis = WEB_ANALYSIS.format(url=self.simulator.url)
            self.analysis_line = f"the web provider reading the simulator's {self.simulator.url}/stats.json"
            self.analysis_short = f"the web provider on {self.simulator.url}/stats.json"
        self.say(f"analysis: {self.analysis_line}")
        self.repo = seed(self.root)
        self.repo.commit(
            migration_files(),
            "trade-service: run the schema migration before every sync (a PreSync hook) and every prod canary",
        )
        text = config_text(self.repo.url, self.sandbox.kubeconfig, self.root / "cache").replace(
            'namespace = "trading-prod"\nstrategy = "direct"',
            'namespace = "trading-prod"\nstrategy = "canary"\nsync = "auto"',
        )
        text += analysis + textwrap.dedent(CANARY).replace('pause = "1s"', f'pause = "{self.pause}"')
        if helm_binary() is not None:
            self.repo.commit(chart_files(), f"Add {CHART_APP}, a Helm chart with values per environment")
            text += (
                CHART_APP_TOML
                + f"\n[apps.{CHART_APP}.canary]\nsteps = [{{ set_weight = 50 }}, {{ set_weight = 100 }}]\n"
            )
        else:
            self.say(
                f"helm is not installed (make helm installs it): the demo runs without {CHART_APP}, its Helm chart"
            )
        if self.slack_channel:
            roles = "\n".join(SLACK_ROLES.format(env=env) for env in ENVIRONMENTS)
            text += SLACK.format(channel=self.slack_channel, roles=roles)
        self.config_path = self.root / "gitopsctl.toml"
        self.config_path.write_text(text, encoding="utf-8")
        self.engine = Engine(config_module.load(str(self.config_path)))
        self.engine.subscribe(lambda rollout, text: self.say(f"    [{rollout.app} {rollout.env}] {text}"))
        self.say("\n1. Sync every app into every environment")
        hooks = []
        for env in ENVIRONMENTS:
            for app in self.engine.config.apps:
                result = self.engine.sync(app, env, wait=True, timeout=60, actor="demo")
                if result.result != "Succeeded":
                    raise DemoFailed(f"{app} in {env} did not sync: {result.message}")
                hooks += [
                    f"{run.phase} hook {run.ref} {run.result.lower()} in {run.seconds:.1f}s" for run in result.hooks
                ]
        self.say(f"  {len(self.engine.config.apps)} apps Healthy in {', '.join(ENVIRONMENTS)}")
        for line in hooks:  # trade-service's migration, run to completion before each of its syncs applied anything
            self.say(f"  {line}")

    # ------------------------------------------------------------ the steps a person can take

    def next_version(self, *, bad: bool) -> str:
        """The patch after what prod runs: v1.4.1 -> v1.4.2 (or v1.4.2-bad); after a bad one, its fix."""
        current = self.engine.status(APP, "prod")[0].version or "v1.4.1"
        match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)(?:-.*)?", current)
        if match is None:
            raise DemoFailed(f"prod runs {current}, which is not a vX.Y.Z version")
        major, minor, patch = (int(n) for n in match.groups())
        return f"v{major}.{minor}.{patch + 1}" + ("-bad" if bad else "")

    def release(self, version: str, *, timeout: float = 120.0):
        """``version`` of trade-service to dev, staging, then prod as a canary; returns the ended rollout."""
        for env in ("dev", "staging"):
            self._go_on()
            result = self.engine.deploy(APP, env, version, actor="demo")
            where = f"commit {result.commit[:12]}" if result.commit else "already there"
            self.say(f"  {result.status}: {APP} {version} in {env} ({where})")
            if result.status not in ("Deployed", "Unchanged"):  # the same version again goes on to prod
                raise DemoFailed(f"the deploy to {env} ended {result.status}: {result.message}")
        self._go_on()
        self.engine.deploy(APP, "prod", version, actor="demo")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rollout = self.engine.rollouts.get(APP, "prod")
            if rollout is not None and rollout.canary_version == version and not rollout.active:
                return rollout
            self._go_on(0.3)
        raise DemoFailed(f"the rollout of {APP} {version} in prod did not finish in {timeout:g}s")

    def _go_on(self, wait: float = 0.0) -> None:
        if self.stopping.wait(wait):
            raise DemoFailed("the demo is stopping")

    def ci_commit(self) -> str:
        """What CI does on a merge: a commit to prod's manifests (the quote cache turned on or off in the pod
        template, image unchanged), pushed to the GitOps repository; its SHA."""
        text = self.repo.read(CI_FILE)
        if "QUOTE_CACHE" not in text:
            image = re.search(r"\n( +)image: [^\n]+\n", text)
            if image is None:
                raise DemoFailed(f"{CI_FILE} has no image line to add the setting after")
            indent = image.group(1)
            block = f'{indent}env:\n{indent}  - name: QUOTE_CACHE\n{indent}    value: "on"\n'
            text, state = text.replace(image.group(0), image.group(0) + block, 1), "on"
        elif 'value: "on"' in text:
            text, state = text.replace('value: "on"', 'value: "off"', 1), "off"
        else:
            text, state = text.replace('value: "off"', 'value: "on"', 1), "on"
        sha = self.repo.commit({CI_FILE: text}, f"Turn the quote cache {state} in prod", author=CI_AUTHOR)
        self.say(f'  CI pushed {sha[:12]} "Turn the quote cache {state} in prod" to the GitOps repository')
        return sha

    def ci_rollout(self, sha: str, *, timeout: float = 120.0):
        """Wait for the canary the follower starts for ``sha`` to end; the ended rollout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rollout = self.engine.rollouts.get(APP, "prod")
            if rollout is not None and rollout.deploy_commit == sha and not rollout.active:
                return rollout
            self._go_on(0.3)
        raise DemoFailed(f"the CI commit {sha[:12]} was not delivered through a canary in {timeout:g}s")

    def make_drift(self) -> None:
        """What someone does by hand in prod: five replicas instead of Git's three, as ``kubectl edit`` would."""
        from kubernetes import client as k8s
        from kubernetes import config as kube_config

        apps = k8s.AppsV1Api(kube_config.new_client_from_config(str(self.sandbox.kubeconfig)))
        apps.patch_namespaced_deployment(APP, "trading-prod", {"spec": {"replicas": 5}}, field_manager="kubectl-edit")
        self.say(f"  someone ran kubectl edit on deployment/{APP} in trading-prod: replicas 3 -> 5")


class DemoController:
    """The rollout controller loop, the watches that report drift and the Git follower, as ``gitopsctl serve``
    runs them (a push "webhook" is a ``poke``)."""

    def __init__(self, world: DemoWorld) -> None:
        self.world = world
        self.notifier = SayNotifier(lambda text: world.say(text))
        self.reports = DriftReports(world.engine, self.notifier)
        self.loop = ReconcileLoop(world.engine, 0.3)
        self.watcher = DriftWatcher(world.engine, self.reports.check)
        self.leading = threading.Event()
        self.leading.set()
        self.follower = Follower(self._follow, self.leading)

    def _follow(self) -> list:
        outcomes = self.world.engine.follow()
        for outcome in outcomes:
            if outcome.new:
                self.notifier.change_followed(outcome)
        return outcomes

    def start(self) -> DemoController:
        for env in ENVIRONMENTS:
            self.reports.scan(env)  # the baseline: nothing differs
        self.loop.start()
        self.watcher.start()
        return self

    def stop(self) -> None:
        self.follower.stop()
        self.watcher.stop()
        self.loop.stop()


def headless(out: TextIO = sys.stdout, analysis_provider: str | None = None) -> int:
    """The whole scenario in order, printed; returns the exit code (0 when every step behaved)."""

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    try:
        with DemoWorld(say, analysis_provider=analysis_provider) as world:
            controller = DemoController(world).start()
            try:
                _scenario(world, controller, say)
            finally:
                controller.stop()
    except DemoFailed as e:
        say(f"\ndemo failed: {e}")
        return 1
    say("\neverything stopped; the demo behaved as expected.")
    return 0


def _scenario(world: DemoWorld, controller: DemoController, say) -> None:
    good = world.next_version(bad=False)
    say(f"\n2. {APP} {good}: dev -> staging -> prod, a canary in prod")
    rollout = world.release(good)
    say(f"  {rollout.phase}: {APP} {good} in prod, {rollout.weight}% of traffic")
    if rollout.phase != "Promoted":
        raise DemoFailed(f"the good version ended {rollout.phase}: {rollout.message}")

    bad = world.next_version(bad=True)
    say(f"\n3. {APP} {bad}: it serves errors; the canary is rolled back automatically")
    rollout = world.release(bad)
    say(f"  {rollout.phase}: {rollout.message}")
    say(f"  reverted in Git by {(rollout.revert_commit or '')[:12]}; prod runs {rollout.stable_version} again")
    if rollout.phase != "Aborted" or " < " not in rollout.message or not rollout.revert_commit:
        raise DemoFailed(f"the bad version was not rolled back with its numbers: {rollout.phase} {rollout.message}")
    if world.engine.status(APP, "prod")[0].version != good:
        raise DemoFailed("prod does not run the good version after the rollback")

    say(f"\n4. Someone scales {APP} in prod by hand")
    world.make_drift()
    deadline = time.monotonic() + 30
    while f"{APP}/prod" not in controller.notifier.opened and time.monotonic() < deadline:
        time.sleep(0.1)
    if f"{APP}/prod" not in controller.notifier.opened:
        raise DemoFailed("the hand-made change was not reported")
    result = world.engine.sync(APP, "prod", wait=True, timeout=60, actor="demo")
    say(f"  healed by a sync: {len(result.applied)} object(s) applied, health {result.health}")
    controller.reports.check(APP, "prod", how="synced by demo")
    if f"{APP}/prod" not in controller.notifier.resolved:
        raise DemoFailed("the drift was not resolved by the sync")

    say("\n5. CI merges a change to prod's manifests; gitopsctl delivers it through the canary by itself")
    sha = world.ci_commit()
    controller.follower.poke()  # what the push webhook does
    rollout = world.ci_rollout(sha)
    say(f"  {rollout.phase}: {rollout.change} ({rollout.message})")
    if rollout.phase != "Promoted":
        raise DemoFailed(f"the CI commit ended {rollout.phase}: {rollout.message}")
    row = world.engine.status(APP, "prod")[0]
    if (row.sync, row.revision) != ("Synced", sha):
        raise DemoFailed(f"prod is {row.sync} at {row.revision} after the CI commit's canary")

    if CHART_APP in world.engine.config.apps:
        say(f"\n6. {CHART_APP} is a Helm chart: a deploy to dev writes one line of its values-dev.yaml")
        result = world.engine.deploy(CHART_APP, "dev", "v3.1.0", actor="demo", wait=True, timeout=60)
        line = next(
            (line for line in world.repo.read(f"charts/{CHART_APP}/values-dev.yaml").splitlines() if "tag:" in line), ""
        )
        say(f"  {result.status}: {line.strip()}; dev runs {world.engine.status(CHART_APP, 'dev')[0].version}")
        if result.status != "Deployed" or world.engine.status(CHART_APP, "dev")[0].version != "v3.1.0":
            raise DemoFailed(f"{CHART_APP} v3.1.0 was not deployed to dev: {result.message}")
