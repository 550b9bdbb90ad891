"""Chaos soak: releases of good and bad versions through dev, staging and a prod canary, for every app at once,
while the API server fails, Prometheus goes away, Git refuses pushes, Slack answers 429 and `gitopsctl serve`
replicas are SIGKILLed.

Real parts: the sandbox (its fault injection answers 503/429, adds latency, drops connections), a real Git
repository (a pre-receive hook refuses pushes while a flag exists), the traffic simulator and the real
Prometheus server (stopped and started again), the Slack stand-in (429 with Retry-After on demand), and two
`gitopsctl serve` replicas (leader election; the leader runs the rollout controller; both answer Slack),
each killed with SIGKILL and started again. Deploys to dev and staging are engine calls; deploys to prod are
`/deploy` commands sent to a live replica, followed in Slack like any.

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
  6. no exception escaped to the caller (only GitOpsError's one sentence) and no traceback in serve's logs;
  7. zero downtime: no request failed for want of a ready endpoint (the traffic simulator counts those apart
     from a bad version's own errors) through every weight change, promotion, abort and repair;
  8. every prod release shown in Slack shows how it ended (Promoted, Aborted, Failed…), though the replica
     that posted it may have been killed, and it agrees with the rollout record.
Run: .venv/bin/python bench/chaos_soak.py [--seconds 300] [--seed N]; `make test` runs 60 seconds of it.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import git  # noqa: E402

from bench.results import Row, report  # noqa: E402
from demo.seed import config_text, seed  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from gitopsctl.errors import GitOpsError, PolicyError  # noqa: E402
from kubesandbox import Sandbox, Timing  # noqa: E402
from standins.prometheus import PrometheusServer, free_port  # noqa: E402
from standins.slack import SlackStandIn  # noqa: E402
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
SECRET = "chaos-signing-secret"  # noqa: S105 - the stand-in's, on 127.0.0.1
CHANNEL = "C0DEPLOYS"  # where /deploy is typed, and so where prod's releases are shown
SLACK = """
[slack]
api_base_url = "{api}"

[slack.roles.prod]
deployers = ["UCHAOS"]

[serve]
reconcile_interval = "500ms"
lease_duration = "4s"
renew_deadline = "3s"
retry_period = "1s"
watch = false
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


class Replicas:
    """Two `gitopsctl serve` replicas on fixed ports, each killed and started again on demand."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config, self.logs = config, logs
        self.ports = [free_port() for _ in range(2)]
        self.metrics_ports = [free_port() for _ in range(2)]
        self.processes: list[subprocess.Popen | None] = [None, None]

    def start(self, i: int) -> None:
        command = [sys.executable, "-m", "gitopsctl", "--config", str(self.config), "serve", "--slack-mode", "http"]
        environment = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-chaos", "SLACK_SIGNING_SECRET": SECRET}
        with (self.logs / f"serve-{i}.log").open("a") as out:
            self.processes[i] = subprocess.Popen(
                [*command, "--port", str(self.ports[i]), "--metrics-port", str(self.metrics_ports[i])],
                stdout=out,
                stderr=out,
                env=environment,
            )

    def kill(self, i: int) -> None:
        process = self.processes[i]
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def alive(self) -> list[int]:
        return [i for i, p in enumerate(self.processes) if p is not None and p.poll() is None]

    def stop(self) -> None:
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for i, process in enumerate(self.processes):
            if process is None:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(i)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("serve-*.log")))


class SlackDeploys:
    """`/deploy APP prod VERSION` to a live replica (the other one when it is down), one command at a time."""

    def __init__(self, slack: SlackStandIn, replicas: Replicas) -> None:
        self.slack, self.replicas = slack, replicas
        self.lock = threading.Lock()

    def send(self, app: str, version: str, until: float) -> bool:
        while time.monotonic() < until:
            for i in self.replicas.alive() or [0, 1]:
                with self.lock:
                    self.slack.bot_url = f"http://127.0.0.1:{self.replicas.ports[i]}/slack/events"
                    try:
                        reply = self.slack.command("/deploy", f"{app} prod {version}", user="UCHAOS", user_name="chaos")
                    except OSError:
                        continue  # that replica is down or not up yet
                if reply.status == 200:
                    return True
            time.sleep(0.3)
        return False

    def root(self, app: str, version: str) -> str | None:
        """The text of the release's root message in Slack now, if it was posted."""
        prefix = f"Deploy {app} {version} to prod:"
        texts = [str(m.get("text", "")) for m in self.slack.messages(CHANNEL) if not m.get("thread_ts")]
        return next((t for t in texts if t.startswith(prefix)), None)


def releases(
    engine: Engine, slack: SlackDeploys, app: str, deadline: float, rng: random.Random, figures: Figures
) -> None:
    """One app's stream of releases: a new version to dev, staging, then prod (a canary), until the deadline."""
    n = 0
    while time.monotonic() < deadline:
        n += 1
        bad = rng.random() < 0.35
        version = f"v9.{n}.0{'-bad' if bad else ''}"
        figures.add("releases bad" if bad else "releases good")
        for env in ENVS:
            if env == "prod":
                _deploy_in_slack(engine, slack, app, version, deadline + 60, figures)
                break
            try:
                result = engine.deploy(app, env, version, actor="chaos", wait=True, timeout=60)
            except GitOpsError as e:  # one sentence, by kind: a refusal (policy, lock, quarantine) or a failure
                figures.add(f"deploys not done: {type(e).__name__}")
                break
            except Exception:  # the one thing that must never happen
                figures.escaped.append(f"{app} {version} {env}: {traceback.format_exc()}")
                break
            figures.add(f"deploys {result.status}")
        time.sleep(rng.uniform(0.1, 0.5))


def _deploy_in_slack(engine: Engine, slack: SlackDeploys, app: str, version: str, until: float, figures: Figures):
    """Send /deploy, then wait until the release is shown ended in Slack, or was refused before it began."""
    if not slack.send(app, version, until):
        figures.add("prod deploys in Slack: no replica answered")
        return
    figures.add("prod deploys sent in Slack")
    asked = time.monotonic()
    while time.monotonic() < until:
        try:
            rollout = engine.rollouts.get(app, "prod")
        except GitOpsError:
            rollout = None
        started = rollout is not None and rollout.canary_version == version
        if started and not rollout.active:
            figures.add(f"rollouts {rollout.phase}")
            return
        root = slack.root(app, version)
        if not started and root is None and time.monotonic() - asked > 15:
            figures.add("prod deploys in Slack refused before a release began")  # the asker was told why
            return
        if not started and root is not None and any(f": {p}" in root for p in ("Failed", "Unchanged", "Deployed")):
            figures.add("prod deploys in Slack ended without a rollout")
            return
        time.sleep(0.3)


def chaos(
    sandbox: Sandbox,
    prometheus: PrometheusServer,
    replicas: Replicas,
    slack: SlackStandIn,
    refuse: Path,
    deadline: float,
    rng: random.Random,
    figures: Figures,
) -> None:
    """A fault every 0.5-2 s, of a kind chosen at random; each lifts itself (a count or a time)."""
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.5, 2.0))
        kind = rng.choice(["503", "429", "latency", "drop", "409", "prometheus", "git", "slack-429", "serve"])
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
        elif kind == "slack-429":
            slack.throttle(every=rng.randint(2, 4), retry_after=1)
            time.sleep(rng.uniform(1, 4))
            slack.unthrottle()
        else:
            i = rng.randrange(2)
            replicas.kill(i)
            time.sleep(rng.uniform(0, 1))
            replicas.start(i)
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
    replicas: Replicas,
    slack: SlackDeploys,
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
    logs = replicas.log_text()
    if "Traceback" in logs:
        at = logs.index("Traceback")
        violations.append(f"a traceback in serve's log: {logs[at : at + 1500]}")
    # 7. zero downtime
    figures.add("requests failed for want of an endpoint", sum(lost.values()))
    violations += [f"{key}: {n} requests found no ready endpoint" for key, n in sorted(lost.items()) if n]
    # 8. every release shown in Slack shows its end (checked in shown_in_slack, after the leader's last pass)
    return violations


def shown_in_slack(engine: Engine, slack: SlackDeploys, figures: Figures, timeout: float = 60.0) -> list[str]:
    """Every prod release message in Slack ends in a final state, and one of a version's messages (a /deploy
    sent again after a replica died mid-request gets its own) agrees with how its rollout ended."""
    final = ("Promoted", "Aborted", "Failed", "Deployed", "Unchanged")
    prefix = re.compile(r"^Deploy (\S+) (\S+) to prod: (.*)$")
    deadline = time.monotonic() + timeout
    while True:
        problems = []
        roots = [str(m.get("text", "")) for m in slack.slack.messages(CHANNEL) if not m.get("thread_ts")]
        shown: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
        for text in roots:
            if match := prefix.match(text):
                shown[(match[1], match[2])].append(match[3])
        ended: dict[tuple[str, str], str] = {}  # how each rollout the records remember ended
        for app in APPS:
            record = engine.rollouts.get(app, "prod")
            if record is None:
                continue
            if not record.active and record.actor != "chaos-repair":
                ended[(app, record.canary_version)] = record.phase
            for entry in record.earlier:
                ended.setdefault((app, str(entry.get("canary_version"))), str(entry.get("phase")))
        for (app, version), phases in shown.items():
            problems += [
                f"{app} {version}: its message in Slack still says {p!r}" for p in phases if not p.startswith(final)
            ]
            if (app, version) in ended and not any(p.startswith(ended[(app, version)]) for p in phases):
                problems.append(f"{app} {version}: Slack says {phases}, the rollout ended {ended[(app, version)]}")
        if not problems or time.monotonic() > deadline:
            figures.add("prod release messages in Slack", sum(len(p) for p in shown.values()))
            figures.add("prod releases whose messages in Slack disagree with how they ended", len(problems))
            return problems
        time.sleep(1.0)


def _git_version(engine: Engine, app: str, env: str) -> str | None:
    from gitopsctl.source.manifests import find_version

    spec, environment = engine.resolve(app, env)
    _, desired = engine.workspace.desired(spec, environment, engine.repo.resolve())
    return find_version(desired, spec.container)


@contextlib.contextmanager
def _directory(keep: bool) -> Iterator[str]:
    tmp = tempfile.mkdtemp(prefix="chaos-")
    try:
        yield tmp
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="how long the chaos lasts (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="the random seed (default: the time)")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, repository) after it")
    args = parser.parse_args()
    seed_value = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed_value)
    figures = Figures()
    started = time.monotonic()
    with _directory(args.keep) as tmp, SlackStandIn(SECRET) as slack:
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
                path.write_text(text + TEMPLATE.format(url=prometheus.url) + SLACK.format(api=slack.api_url))
                engine = Engine(config_module.load(str(path)))
                for app in APPS:
                    for env in ENVS:
                        engine.sync(app, env, wait=True, timeout=60)
                served = simulator.ticks
                while simulator.ticks < served + 3:  # every pod ready and read: requests lost from now on count
                    time.sleep(0.1)
                before = simulator.lost()
                replicas = Replicas(path, root)
                replicas.start(0)
                replicas.start(1)
                deploys = SlackDeploys(slack, replicas)
                deadline = time.monotonic() + args.seconds
                threads = [
                    threading.Thread(
                        target=releases, args=(engine, deploys, app, deadline, random.Random(rng.random()), figures)
                    )
                    for app in APPS
                ]
                threads.append(
                    threading.Thread(
                        target=chaos, args=(sandbox, prometheus, replicas, slack, refuse, deadline, rng, figures)
                    )
                )
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                sandbox.faults.remove()
                slack.unthrottle()
                refuse.unlink(missing_ok=True)
                for i in range(2):
                    if i not in replicas.alive():
                        replicas.start(i)
                try:
                    held = settle(engine, figures)
                except RuntimeError:
                    print(replicas.log_text()[-3000:], file=sys.stderr)
                    raise
                violations = shown_in_slack(engine, deploys, figures)
                replicas.stop()
                after = simulator.lost()
                lost = {key: n - before.get(key, 0) for key, n in after.items()}
                violations += invariants(engine, git.Repo(repo.url), replicas, deploys, figures, held, lost)
            finally:
                prometheus.stop()
                simulator.stop()
    print(f"chaos soak: {args.seconds:g} s of chaos (seed {seed_value}), {time.monotonic() - started:.0f} s in all")
    for what, n in sorted(figures.counts.items()):
        print(f"  {what}: {n}")
    print(f"invariants: 8 checked, violations: {len(violations)}")
    for violation in violations:
        print(f"  VIOLATION {violation}")
    done = ", ".join(f"{n} {what}" for what, n in sorted(figures.counts.items()))
    row = Row(
        f"chaos soak: {args.seconds:g} s of releases through a prod canary while the API fails, Prometheus goes away, "
        "Git refuses pushes and the controller is SIGKILLed (serve replicas as their own processes)",
        f"8 invariants, {len(violations)} violated ({done})",
        target="0 violations",
        passed=not violations,
        command=f".venv/bin/python bench/chaos_soak.py --seconds {args.seconds:g}",
    )
    return report("chaos_soak", [row])


if __name__ == "__main__":
    sys.exit(main())
