"""Git to applied: from a CI push to the GitOps repository to the change running, by webhook and by polling.

Real parts: the sandbox cluster (in this process, so the moments are read from
its store's own events, not sampled), a bare Git repository pushed to as CI
does, and `gitopsctl serve --slack-mode off` as its own process, leading. Two
environments follow Git (`sync = "auto"`): dev is direct, prod is a canary whose
steps start with `set_weight`. Each run bumps trade-service's image tag in one
environment, pushes, then (webhook runs) posts a GitHub-signed push webhook to
POST /hooks/git; the clock starts when the push has landed in the repository.

- direct: until the new image is in dev's Deployment (applied) and the
  Deployment is Healthy (gitopsctl's own health rule). The sandbox holds a new
  pod back READY_DELAY from its creationTimestamp, which has whole seconds, so
  the wait varies from 0 to READY_DELAY: each run measures its new pod's wait
  (created to Ready, from the store's events) and the target is on the raw
  figure minus that wait.
- canary: until prod's rollout record has the new version at a weight > 0.
- each push waits a random part of a cycle first (the rollout controller's
  with a webhook, the poll's without), so neither cycle's phase is fixed by the
  previous run's end.
- polling: the same with no webhook, serve fetching every POLL_INTERVAL.

Targets (issue 15): webhook, worst run under 2 s (direct: beyond the readiness
delay); polling, worst run within one poll interval + 2 s.
Run: .venv/bin/python bench/git_to_applied.py
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import git  # noqa: E402

from bench import results  # noqa: E402
from bench.harness import free_port, metric, wait_until  # noqa: E402
from demo.seed import config_text, seed  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.cluster.health import HEALTHY  # noqa: E402
from gitopsctl.cluster.health import deployment as deployment_health  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from gitopsctl.rollout.record import record_name  # noqa: E402
from kubesandbox import Sandbox, Timing  # noqa: E402
from kubesandbox.store import Event  # noqa: E402

RUNS = 5
READY_DELAY = 1.0  # seconds from a pod's creationTimestamp to Ready, in the sandbox (its default)
RECONCILE_INTERVAL = 2.0  # [serve] reconcile_interval's default: the rollout controller's cycle
POLL_INTERVAL = 5.0
TARGET = 2.0
APP = "trade-service"
SECRET_VAR = "GITOPSCTL_BENCH_WEBHOOK_SECRET"  # noqa: S105 (a variable's name)
SECRET = "bench-webhook-secret"  # noqa: S105 (shared by this process and serve, on 127.0.0.1)
CI = git.Actor("CI Bot", "ci@example.com")
EXTRA = """
[apps.trade-service.canary]
steps = [{ set_weight = 34 }, { set_weight = 100 }]
[apps.pricing-api.canary]
steps = [{ set_weight = 100 }]
[apps.ledger-worker.canary]
steps = [{ set_weight = 100 }]

[drift]
interval = "3m"

[serve]
lease_duration = "4s"
renew_deadline = "3s"
retry_period = "1s"
"""


class Moments:
    """When the sandbox's store first held what each of some predicates wants, in order, stamped by its own events.

    Each moment is looked for only after the previous one was seen: the sandbox marks a Deployment's new generation
    observed before its status counts the new ReplicaSet, so for an instant the rule reads Healthy before the new pod
    exists; Healthy counts only from the event after the new pod is Ready.
    """

    def __init__(self, store) -> None:
        self._cond = threading.Condition()
        self._wanted: list[tuple[str, Callable[[Event], bool]]] = []
        self._at: dict[str, float] = {}
        store.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        now = time.monotonic()
        with self._cond:
            if len(self._at) < len(self._wanted):
                name, wanted = self._wanted[len(self._at)]
                if wanted(event):
                    self._at[name] = now
                    self._cond.notify_all()

    def expect(self, **wanted: Callable[[Event], bool]) -> None:
        with self._cond:
            self._wanted, self._at = list(wanted.items()), {}

    def wait(self, name: str, timeout: float) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: name in self._at, timeout):
                raise RuntimeError(f"timed out waiting for {name} (seen: {', '.join(self._at) or 'nothing'})")
            return self._at[name]


def deployment(namespace: str, check: Callable[[dict], bool]) -> Callable[[Event], bool]:
    def wanted(event: Event) -> bool:
        meta = event.obj["metadata"]
        return (
            event.storage_key == ("apps", "deployments")
            and (meta.get("namespace"), meta["name"]) == (namespace, APP)
            and event.type != "DELETED"
            and check(event.obj)
        )

    return wanted


def pod(namespace: str, tag: str, *, ready: bool) -> Callable[[Event], bool]:
    def wanted(event: Event) -> bool:
        obj = event.obj
        if event.storage_key != ("", "pods") or obj["metadata"].get("namespace") != namespace:
            return False
        if not obj["spec"]["containers"][0]["image"].endswith(f":{tag}"):
            return False
        conditions = (obj.get("status") or {}).get("conditions") or []
        return not ready or any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    return wanted


def image_of(obj: dict) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def runs(tag: str, healthy: bool) -> Callable[[dict], bool]:
    return lambda obj: image_of(obj).endswith(f":{tag}") and (not healthy or deployment_health(obj).status == HEALTHY)


def rollout(tag: str, check: Callable[[dict], bool]) -> Callable[[Event], bool]:
    """prod's rollout record, of the canary of ``tag``, satisfying ``check``."""

    def wanted(event: Event) -> bool:
        meta = event.obj["metadata"]
        if event.storage_key != ("", "configmaps") or meta["name"] != record_name(APP, "prod"):
            return False
        data = json.loads((event.obj.get("data") or {}).get("rollout", "{}"))
        return data.get("canary_version") == tag and check(data)

    return wanted


class Pipeline:
    """Pushes image bumps to the GitOps repository as a CI job would, and signs the webhook GitHub would send."""

    def __init__(self, repo) -> None:
        self.repo = repo
        self.tags = {"dev": "v1.4.1", "prod": "v1.4.1"}
        self.minor = 5

    def bump(self, env: str) -> str:
        """Push trade-service's next tag for ``env``; returns the tag once the push has landed."""
        old, new = self.tags[env], f"v1.{self.minor}.0"
        self.minor += 1
        work = self.repo.work
        work.remote("origin").fetch("main")
        work.git.reset("--hard", "origin/main")  # gitopsctl may have pushed since
        rel = f"apps/{APP}/{env}/deployment.yaml"
        path = self.repo.work_path / rel
        path.write_text(path.read_text().replace(f"{APP}:{old}", f"{APP}:{new}"))
        work.index.add([rel])
        work.index.commit(f"CI: {APP} {new} in {env}", author=CI, committer=CI)
        work.remote("origin").push("main:main").raise_if_error()
        self.tags[env] = new
        return new

    @staticmethod
    def webhook(url: str) -> None:
        body = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "acme/gitops"}}).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-Hub-Signature-256": signature}
        request = urllib.request.Request(f"{url}/hooks/git", data=body, headers=headers, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (127.0.0.1)
            assert answer.status == 202, answer.read()


@contextlib.contextmanager
def serving(config: Path, log: Path) -> Iterator[str]:
    """`gitopsctl serve --slack-mode off` as its own process, leading; yields its webhook listener's base URL."""
    port, metrics_port = free_port(), free_port()
    command = [sys.executable, "-m", "gitopsctl", "--config", str(config), "serve", "--slack-mode", "off"]
    with log.open("a") as err:
        server = subprocess.Popen(
            [*command, "--port", str(port), "--metrics-port", str(metrics_port)],
            env={**os.environ, SECRET_VAR: SECRET},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_until(lambda: metric(f"http://127.0.0.1:{metrics_port}", "gitopsctl_leader") == 1.0, 60, "serve to lead")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)


def write_config(path: Path, base: str, *, webhook: bool) -> None:
    git_keys = f'webhook_secret = "${{{SECRET_VAR}}}"\npoll_interval = "0"\n' if webhook else ""
    git_keys = git_keys or f'poll_interval = "{POLL_INTERVAL:g}s"\n'
    text = base.replace('branch = "main"\n', 'branch = "main"\n' + git_keys, 1)
    text = text.replace('namespace = "trading-dev"\n', 'namespace = "trading-dev"\nsync = "auto"\n')
    text = text.replace(
        'namespace = "trading-prod"\nstrategy = "direct"\n',
        'namespace = "trading-prod"\nstrategy = "canary"\nsync = "auto"\n',
    )
    path.write_text(text + EXTRA)


@dataclass
class Run:
    """Seconds from the push landing to each moment; ``pod_wait``: the new pod's time from created to Ready."""

    first: float  # direct: the new image in the Deployment; canary: the first weight > 0 in the rollout record
    started: float = 0.0  # canary: the rollout record of the new version written (at 0%)
    healthy: float = 0.0
    pod_wait: float = 0.0

    @property
    def net(self) -> float:
        return self.healthy - self.pod_wait


def measure(moments: Moments, ci: Pipeline, url: str | None, rng: random.Random, kind: str) -> Run:
    """One push (and webhook, when ``url``), at a random moment of the poll's or the rollout controller's cycle."""
    time.sleep(rng.uniform(0, RECONCILE_INTERVAL if url else POLL_INTERVAL))
    tag = f"v1.{ci.minor}.0"
    if kind == "direct":
        moments.expect(
            first=deployment("trading-dev", runs(tag, healthy=False)),
            created=pod("trading-dev", tag, ready=False),
            ready=pod("trading-dev", tag, ready=True),
            healthy=deployment("trading-dev", runs(tag, healthy=True)),
        )
    else:
        moments.expect(
            started=rollout(tag, lambda r: True),
            first=rollout(tag, lambda r: r["weight"] > 0),
            done=rollout(tag, lambda r: r["phase"] == "Promoted"),
        )
    ci.bump("dev" if kind == "direct" else "prod")
    pushed = time.monotonic()
    if url is not None:
        ci.webhook(url)
    budget = POLL_INTERVAL + 30
    run = Run(moments.wait("first", budget) - pushed)
    if kind == "direct":
        run.healthy = moments.wait("healthy", budget) - pushed
        run.pod_wait = moments.wait("ready", budget) - moments.wait("created", budget)
    else:
        run.started = moments.wait("started", budget) - pushed
        moments.wait("done", 120)  # the rollout ends before the next push: a rollout in progress is never restarted
    return run


def phase(moments: Moments, ci: Pipeline, url: str | None, rng: random.Random) -> dict[str, list[Run]]:
    measure(moments, ci, url, rng, "direct")  # warm-up: a fresh serve's first render and fetch, not counted
    measure(moments, ci, url, rng, "canary")
    figures: dict[str, list[Run]] = {"direct": [], "canary": []}
    for number in range(1, RUNS + 1):
        for kind in figures:
            figures[kind].append(measure(moments, ci, url, rng, kind))
        direct, canary = figures["direct"][-1], figures["canary"][-1]
        print(
            f"  {'webhook' if url else 'polling'} run {number}: dev applied {direct.first:.2f} s, "
            f"Healthy {direct.healthy:.2f} s (its new pod waited {direct.pod_wait:.2f} s to be Ready); "
            f"prod canary started {canary.started:.2f} s, its first weight {canary.first:.2f} s",
            flush=True,
        )
    return figures


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with Sandbox.start(tmp / "cluster", timing=Timing(ready_delay=READY_DELAY)) as sandbox:
            repo = seed(tmp)
            base = config_text(repo.url, sandbox.kubeconfig, tmp / "cache")
            config = tmp / "gitopsctl.toml"
            write_config(config, base, webhook=True)
            engine = Engine(config_module.load(str(config)))
            for app in engine.config.apps:
                for env in ("dev", "prod"):
                    engine.sync(app, env, wait=True, timeout=60)
            moments = Moments(sandbox.store)
            ci = Pipeline(repo)
            rng = random.Random(15)
            log = tmp / "serve.log"
            try:
                with serving(config, log) as url:
                    hooked = phase(moments, ci, url, rng)
                write_config(config, base, webhook=False)
                with serving(config, log):
                    polled = phase(moments, ci, None, rng)
            except RuntimeError:
                sys.stderr.write(log.read_text()[-4000:])
                raise
    return results.report("git_to_applied", rows_of(hooked, polled))


def figure(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, worst {max(values):.2f} s"


def rows_of(hooked: dict[str, list[Run]], polled: dict[str, list[Run]]) -> list[results.Row]:
    """The rows: webhook runs judged on their worst run under TARGET, polling runs within one poll interval + TARGET;
    the ratio of each webhook figure is against polling's median of the same measure, from this run."""
    Row = results.Row  # noqa: N806
    how = (
        f"{RUNS} runs after one warm-up; the clock starts when the push has landed; the sandbox in this process "
        f"(moments from its store's events), serve its own process"
    )
    webhook = f"webhook: a GitHub-signed POST /hooks/git right after the push, polling off ({how})"
    polling = f"polling only: no webhook, [git] poll_interval = {POLL_INTERVAL:g} s, pushes at random moments ({how})"
    net = [r.net for r in hooked["direct"]]
    first_weight = [r.first for r in hooked["canary"]]
    polled_net = [r.net for r in polled["direct"]]
    polled_first = [r.first for r in polled["canary"]]
    limit = POLL_INTERVAL + TARGET

    def against_polling(ours: list[float], theirs: list[float]) -> str:
        return results.ratio(
            statistics.median(ours), statistics.median(theirs), what=f"polling every {POLL_INTERVAL:g} s (this run)"
        )

    def of_interval(values: list[float]) -> str:
        return f"median = {statistics.median(values) / POLL_INTERVAL:.2f} x poll_interval"

    return [
        Row(f"{webhook}: direct dev, the new image in the Deployment", figure([r.first for r in hooked["direct"]])),
        Row("webhook: direct dev, the Deployment Healthy (raw)", figure([r.healthy for r in hooked["direct"]])),
        Row(
            f"webhook: direct dev, of which its new pod waited to be Ready (sandbox readiness delay "
            f"{READY_DELAY:g} s from a whole-second creationTimestamp)",
            figure([r.pod_wait for r in hooked["direct"]]),
        ),
        Row(
            "webhook: direct dev, the Deployment Healthy net of its new pod's wait",
            figure(net),
            target=f"worst < {TARGET:g} s",
            ratio=against_polling(net, polled_net),
            passed=max(net) < TARGET,
        ),
        Row(
            "webhook: canary prod, rollout started (record at 0%)",
            figure([r.started for r in hooked["canary"]]),
        ),
        Row(
            f"webhook: canary prod, the first weight > 0 in the rollout record (the rollout controller runs every "
            f"{RECONCILE_INTERVAL:g} s)",
            figure(first_weight),
            target=f"worst < {TARGET:g} s",
            ratio=against_polling(first_weight, polled_first),
            passed=max(first_weight) < TARGET,
        ),
        Row(
            f"{polling}: direct dev, the Deployment Healthy net of its new pod's wait",
            figure(polled_net),
            target=f"worst <= {limit:g} s (one poll interval + {TARGET:g} s)",
            ratio=of_interval(polled_net),
            passed=max(polled_net) <= limit,
        ),
        Row(
            "polling: canary prod, the first weight > 0 in the rollout record",
            figure(polled_first),
            target=f"worst <= {limit:g} s (one poll interval + {TARGET:g} s)",
            ratio=of_interval(polled_first),
            passed=max(polled_first) <= limit,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
