"""Chaos soak: releases of good and bad versions through dev, staging and a prod canary, for every app at once,
while the API server fails, Prometheus goes away, Git refuses pushes and the rollout controller is SIGKILLed.

Real parts: the sandbox (its fault injection answers 503/429, adds latency, drops connections), a real Git
repository (a pre-receive hook refuses pushes while a flag exists), the traffic simulator and the real
Prometheus server (stopped and started again), and the rollout controller as its own process
(`gitopsctl controller`), killed with SIGKILL and started again.

After the chaos, faults are lifted and the controller finishes what is running; every app/environment the
faults left undelivered or half-applied gets one repair sync (what `sync = "auto"` or on-call would do;
counted). Then the invariants, each printed with its figure; any violation exits 1:

  1. every app/environment: Synced, Clean, Healthy, and running the version Git says; or, where Git asks for
     a version quarantined since (it failed in prod after it was committed there), held: Clean and Healthy
     on what was delivered, the repair refused in one sentence;
  2. no version whose analysis failed serves in the environment where it failed;
  3. at most one revert commit per deploy commit, and every aborted rollout's revert commit is in Git;
  4. no duplicate deploy commit (the same version to the same app/environment twice);
  5. no lock left held;
  6. no exception escaped to the caller (only GitOpsError's one sentence) and no traceback in the controller;
  7. zero downtime: no request failed for want of a ready endpoint (the traffic simulator counts those apart
     from a bad version's own errors) through every weight change, promotion, abort and repair.

Slack is not in this soak (its 429s and refusals are covered by tests/bot/test_slack_workspace.py).
Run: .venv/bin/python bench/chaos_soak.py [--seconds 300] [--seed N]; `make test` runs 60 seconds of it.
"""

from __future__ import annotations

import argparse
import collections
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import git  # noqa: E402

from demo.seed import config_text, seed  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from gitopsctl.errors import GitOpsError, PolicyError  # noqa: E402
from kubesandbox import Sandbox, Timing  # noqa: E402
from standins.prometheus import PrometheusServer  # noqa: E402
from standins.traffic import TrafficSimulator  # noqa: E402

APPS = ("trade-service", "pricing-api", "ledger-worker")
ENVS = ("dev", "staging", "prod")
TEMPLATE = """
[prometheus]
url = "{url}"

[analysis.templates.success-rate]
query = 'sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="canary",code!~"5.."}}[3s])) / sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="canary"}}[3s]))'
interval = "1s"
initial_delay = "2s"
count = 3
success_condition = "result >= 0.95"
failure_limit = 0
inconclusive_limit = 20
consecutive_error_limit = 20

[apps.trade-service.canary]
steps = [{{ set_weight = 34 }}, {{ analysis = "success-rate" }}, {{ set_weight = 100 }}]
[apps.pricing-api.canary]
steps = [{{ set_weight = 50 }}, {{ analysis = "success-rate" }}, {{ set_weight = 100 }}]
[apps.ledger-worker.canary]
steps = [{{ set_weight = 50 }}, {{ analysis = "success-rate" }}, {{ set_weight = 100 }}]
"""
HOOK = """#!/bin/sh
if [ -e "{flag}" ]; then echo "pushes are refused right now (chaos)" >&2; exit 1; fi
exit 0
"""


class Figures:
    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.escaped: list[str] = []
        self.lock = threading.Lock()

    def add(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n


class Controller:
    """`gitopsctl controller` as its own process, killed and started again on demand."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "gitopsctl", "--config", str(self.config), "controller"]
        with self.log.open("a") as out:
            self.process = subprocess.Popen([*command, "--interval", "0.5"], stdout=out, stderr=out)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def releases(engine: Engine, app: str, deadline: float, rng: random.Random, figures: Figures) -> None:
    """One app's stream of releases: a new version to dev, staging, then prod (a canary), until the deadline."""
    n = 0
    while time.monotonic() < deadline:
        n += 1
        bad = rng.random() < 0.35
        version = f"v9.{n}.0{'-bad' if bad else ''}"
        figures.add("releases bad" if bad else "releases good")
        for env in ENVS:
            try:
                result = engine.deploy(app, env, version, actor="chaos", wait=env != "prod", timeout=60)
            except GitOpsError as e:  # one sentence, by kind: a refusal (policy, lock, quarantine) or a failure
                figures.add(f"deploys not done: {type(e).__name__}")
                break
            except Exception:  # the one thing that must never happen
                figures.escaped.append(f"{app} {version} {env}: {traceback.format_exc()}")
                break
            figures.add(f"deploys {result.status}")
            if env == "prod" and result.rollout is not None:
                _wait_rollout(engine, app, deadline + 60, figures)
        time.sleep(rng.uniform(0.1, 0.5))


def _wait_rollout(engine: Engine, app: str, until: float, figures: Figures) -> None:
    while time.monotonic() < until:
        try:
            rollout = engine.rollouts.get(app, "prod")
        except GitOpsError:
            time.sleep(0.5)
            continue
        if rollout is not None and not rollout.active:
            figures.add(f"rollouts {rollout.phase}")
            return
        time.sleep(0.3)


def chaos(
    sandbox: Sandbox,
    prometheus: PrometheusServer,
    controller: Controller,
    refuse: Path,
    deadline: float,
    rng: random.Random,
    figures: Figures,
) -> None:
    """A fault every 0.5-2 s, of a kind chosen at random; each lifts itself (a count or a time)."""
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.5, 2.0))
        kind = rng.choice(["503", "429", "latency", "drop", "409", "prometheus", "git", "controller"])
        namespace = f"trading-{rng.choice(ENVS)}"
        if kind == "503":
            verb = rng.choice(["patch", "get", "list", "create"])
            sandbox.faults.add(verbs=[verb], namespace=namespace, status=503, seconds=rng.uniform(0.5, 4))
        elif kind == "429":
            sandbox.faults.add(resource="configmaps", status=429, retry_after=1, count=rng.randint(1, 3))
        elif kind == "latency":
            sandbox.faults.add(namespace=namespace, latency=rng.uniform(0.2, 1.5), seconds=rng.uniform(1, 4))
        elif kind == "drop":
            sandbox.faults.add(verbs=["get", "list"], namespace=namespace, drop=True, count=rng.randint(1, 3))
        elif kind == "409":
            sandbox.faults.add(verbs=["patch"], resource="deployments", namespace=namespace, status=409, count=1)
        elif kind == "prometheus":
            prometheus.stop()
            time.sleep(rng.uniform(1, 4))
            prometheus.start()
        elif kind == "git":
            refuse.touch()
            time.sleep(rng.uniform(1, 3))
            refuse.unlink()
        else:
            controller.kill()
            time.sleep(rng.uniform(0, 1))
            controller.start()
        figures.add(f"faults {kind}")


def settle(engine: Engine, figures: Figures, timeout: float = 180.0) -> set[tuple[str, str]]:
    """No faults now: let the controller end every rollout, then repair what the faults left behind.

    Returns the app/environments whose repair is refused because Git asks for a version quarantined
    meanwhile (it failed in prod after it was committed here): held, as they must be, until someone decides."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = [a for a in APPS if (r := engine.rollouts.get(a, "prod")) is not None and r.active]
        if not active:
            break
        time.sleep(0.5)
    else:
        stuck = [
            f"{a}: {r.phase} step {r.step} weight {r.weight} ({r.message})"
            for a in APPS
            if (r := engine.rollouts.get(a, "prod")) is not None and r.active
        ]
        raise RuntimeError(f"rollouts still running {timeout:.0f}s after the chaos ended: {'; '.join(stuck)}")
    held = set()
    for row in engine.status():
        if (row.sync, row.drift, row.health) != ("Synced", "Clean", "Healthy") or row.error:
            figures.add("repair syncs after the chaos")
            try:
                engine.sync(row.app, row.env, wait=True, timeout=60, actor="chaos-repair")
            except PolicyError as e:
                if "quarantined" not in str(e):
                    raise
                figures.add("held: Git asks for a version quarantined since")
                held.add((row.app, row.env))
    return held


def invariants(
    engine: Engine,
    repo: git.Repo,
    controller_log: Path,
    figures: Figures,
    held: set[tuple[str, str]],
    lost: dict[str, int],
) -> list[str]:
    violations: list[str] = []
    # 1. Git and the cluster agree everywhere (a change held for a quarantined version: live is what was delivered)
    for row in engine.status():
        wanted = _git_version(engine, row.app, row.env)
        if (row.app, row.env) in held:
            quarantined = {q.version for q in engine.quarantined(row.app)}
            if (row.drift, row.health) != ("Clean", "Healthy") or wanted not in quarantined or row.error:
                violations.append(f"{row.app} in {row.env} held for {wanted}: {row.drift}, {row.health}")
            continue
        if (row.sync, row.drift, row.health) != ("Synced", "Clean", "Healthy") or row.version != wanted:
            violations.append(
                f"{row.app} in {row.env}: {row.sync}, {row.drift}, {row.health}, runs {row.version}, Git {wanted}"
            )
    # 2. no version whose analysis failed serves where it failed
    for app in APPS:
        live = {row.env: row.version for row in engine.status(app)}
        for entry in engine.quarantined(app):
            if live.get(entry.env) == entry.version:
                violations.append(f"{app} {entry.version} failed in {entry.env} and serves there")
        rollout = engine.rollouts.get(app, "prod")
        if rollout is not None and rollout.phase == "Aborted" and live.get("prod") == rollout.canary_version:
            violations.append(f"{app} {rollout.canary_version} was aborted in prod and serves there")
        if rollout is not None and rollout.phase == "Aborted" and rollout.revert_commit:
            try:
                repo.commit(rollout.revert_commit)
            except ValueError:
                violations.append(f"{app}: the revert commit {rollout.revert_commit[:12]} is not in Git")
    # 3 and 4. revert and deploy commits
    reverted: collections.Counter[str] = collections.Counter()
    deployed: collections.Counter[str] = collections.Counter()
    for commit in repo.iter_commits("main"):
        for line in commit.message.splitlines():
            if line.startswith("Reverts: "):
                reverted[line.removeprefix("Reverts: ").strip()] += 1
        title = commit.message.splitlines()[0]
        if title.startswith("Deploy "):
            deployed[title.split(" (was ")[0]] += 1
    figures.add("revert commits", sum(reverted.values()))
    figures.add("deploy commits", sum(deployed.values()))
    violations += [f"{sha[:12]} reverted {n} times" for sha, n in reverted.items() if n > 1]
    violations += [f"'{title}' committed {n} times" for title, n in deployed.items() if n > 1]
    # 5. no lock left held
    violations += [f"lock of {lock.app} in {lock.env} still held by {lock.actor}" for lock in engine.locks()]
    # 6. nothing escaped
    violations += [f"an exception escaped: {e.splitlines()[-1]}" for e in figures.escaped]
    if "Traceback" in controller_log.read_text(errors="replace"):
        violations.append(f"a traceback in the controller's log ({controller_log})")
    # 7. zero downtime
    figures.add("requests failed for want of an endpoint", sum(lost.values()))
    violations += [f"{key}: {n} requests found no ready endpoint" for key, n in sorted(lost.items()) if n]
    return violations


def _git_version(engine: Engine, app: str, env: str) -> str | None:
    from gitopsctl.source.manifests import find_version

    spec, environment = engine.resolve(app, env)
    _, desired = engine.workspace.desired(spec, environment, engine.repo.resolve())
    return find_version(desired, spec.container)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="how long the chaos lasts (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="the random seed (default: the time)")
    args = parser.parse_args()
    seed_value = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed_value)
    figures = Figures()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        root = Path(tmp)
        with Sandbox.start(root / "cluster", timing=Timing(ready_delay=0.3)) as sandbox:
            simulator = TrafficSimulator(sandbox.store).start()
            prometheus = PrometheusServer(root / "prometheus", [simulator.target]).start()
            try:
                repo = seed(root)
                refuse = root / "refuse-pushes"
                hook = Path(repo.url) / "hooks" / "pre-receive"
                hook.write_text(HOOK.format(flag=refuse))
                hook.chmod(0o755)
                path = root / "gitopsctl.toml"
                text = config_text(repo.url, sandbox.kubeconfig, root / "cache").replace(
                    'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
                )
                path.write_text(text + TEMPLATE.format(url=prometheus.url))
                engine = Engine(config_module.load(str(path)))
                for app in APPS:
                    for env in ENVS:
                        engine.sync(app, env, wait=True, timeout=60)
                served = simulator.ticks
                while simulator.ticks < served + 3:  # every pod ready and read: requests lost from now on count
                    time.sleep(0.1)
                before = simulator.lost()
                controller = Controller(path, root / "controller.log")
                controller.start()
                deadline = time.monotonic() + args.seconds
                threads = [
                    threading.Thread(
                        target=releases, args=(engine, app, deadline, random.Random(rng.random()), figures)
                    )
                    for app in APPS
                ]
                threads.append(
                    threading.Thread(
                        target=chaos, args=(sandbox, prometheus, controller, refuse, deadline, rng, figures)
                    )
                )
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                sandbox.faults.remove()
                refuse.unlink(missing_ok=True)
                if controller.process is None or controller.process.poll() is not None:
                    controller.start()
                try:
                    held = settle(engine, figures)
                except RuntimeError:
                    print((root / "controller.log").read_text(errors="replace")[-3000:], file=sys.stderr)
                    raise
                controller.stop()
                after = simulator.lost()
                lost = {key: n - before.get(key, 0) for key, n in after.items()}
                violations = invariants(engine, git.Repo(repo.url), root / "controller.log", figures, held, lost)
            finally:
                prometheus.stop()
                simulator.stop()
    print(f"chaos soak: {args.seconds:g} s of chaos (seed {seed_value}), {time.monotonic() - started:.0f} s in all")
    for what, n in sorted(figures.counts.items()):
        print(f"  {what}: {n}")
    print(f"invariants: 7 checked, violations: {len(violations)}")
    for violation in violations:
        print(f"  VIOLATION {violation}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
