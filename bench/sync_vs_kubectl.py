"""One app's sync against `kubectl apply --server-side` of the same rendered objects, in the same run.

Real parts: the sandbox cluster as its own process (as `gitopsctl sandbox up` runs it), the demo's GitOps
repository (demo/seed.py, real Git) and kubectl (/usr/bin/kubectl) with the sandbox's kubeconfig. The app is
trade-service in dev (a Deployment, a Service and a ConfigMap). Every run changes the ConfigMap's MARKETS value,
so each contender really writes, and each contender's write is checked in the cluster afterwards (not timed).
Also timed, to show how much of the CLI's time is its start: `gitopsctl --help` as a new process.

- `gitopsctl sync trade-service dev` as a new process, exec to exit: the change is committed and pushed to Git
  first (not timed); the process fetches it, renders, applies (server-side), records the sync and exits. Its Git
  cache directory is warm (the repository was cloned by earlier syncs), as on a person's machine.
- `engine.sync("trade-service", "dev")` in this process, on an Engine that has synced before, for another commit.
- `kubectl apply --server-side -f DIR` as a new process, exec to exit: DIR holds the objects gitopsctl applies for
  the app (rendered and prepared: its labels and tracking annotation), with the new value, written before the
  clock starts, in a namespace of their own (so the two field managers never fight over the same fields).
  kubectl's discovery cache (--cache-dir) is warm, as gitopsctl's Git cache is.

One warm-up run of each is not counted; the contenders then take turns going first. Figures are medians of
RUNS runs; ratios are of medians from this run. Target: issue 3's "one app's sync, trigger to applied, under 5 s".
Run: .venv/bin/python bench/sync_vs_kubectl.py
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402

from bench.harness import sandbox_process  # noqa: E402
from bench.results import Row, ratio, report  # noqa: E402
from demo.seed import config_text, seed  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402

RUNS = 7
TARGET = 5.0
APP, ENV, NAMESPACE = "trade-service", "dev", "trading-dev"
KUBECTL_NAMESPACE = "kubectl-dev"
CONFIGMAP = f"{APP}-config"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
GITOPSCTL = str(Path(sys.executable).with_name("gitopsctl"))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(tmp / "cluster"):
            return run(tmp, tmp / "cluster" / "kubeconfig")


def run(tmp: Path, kubeconfig: Path) -> int:
    repo = seed(tmp)
    config_path = tmp / "gitopsctl.toml"
    config_path.write_text(config_text(repo.url, kubeconfig, tmp / "cache"))
    engine = Engine(config_module.load(str(config_path)))
    engine.sync(APP, ENV, wait=True, timeout=60)
    core = k8s.CoreV1Api(kube_config.new_client_from_config(str(kubeconfig)))
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=KUBECTL_NAMESPACE)))

    # the objects gitopsctl applies for the app, as kubectl will apply them (the ConfigMap's value set per run)
    spec, environment = engine.workspace.resolve(APP, ENV)
    sha = engine.syncs.pending(spec, environment, None).wanted
    _, objects = engine.workspace.desired(spec, environment, sha)
    manifests = tmp / "manifests"
    manifests.mkdir()
    kinds = sorted(o["kind"] for o in objects)
    counter = iter(range(10_000))

    def marker() -> str:
        return f"LSE,XETRA,RUN{next(counter)}"

    def git_change() -> str:
        value = marker()
        text = repo.read(f"apps/{APP}/{ENV}/configmap.yaml")
        old = next(line for line in text.splitlines() if "MARKETS" in line)
        repo.commit({f"apps/{APP}/{ENV}/configmap.yaml": text.replace(old, f'  MARKETS: "{value}"')}, f"bench {value}")
        return value

    def kubectl_change() -> str:
        value = marker()
        for i, obj in enumerate(objects):
            obj = yaml.safe_load(yaml.safe_dump(obj))
            obj["metadata"]["namespace"] = KUBECTL_NAMESPACE
            if obj["kind"] == "ConfigMap":
                obj["data"]["MARKETS"] = value
            (manifests / f"{i}-{obj['kind'].lower()}.yaml").write_text(yaml.safe_dump(obj))
        return value

    def cli() -> None:
        done = subprocess.run(
            [GITOPSCTL, "--config", str(config_path), "sync", APP, ENV], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"gitopsctl sync exited {done.returncode}: {done.stderr[-2000:]}")

    def startup() -> None:
        subprocess.run([GITOPSCTL, "--help"], capture_output=True, check=True)

    def in_process() -> None:
        result = engine.sync(APP, ENV)
        if result.result != "Succeeded":
            raise RuntimeError(f"engine.sync: {result.result}: {result.message}")

    def kubectl() -> None:
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp / "kube-cache")]
            + ["apply", "--server-side", "-f", str(manifests)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl apply exited {done.returncode}: {done.stderr[-2000:]}")

    contenders: dict[str, tuple[Callable[[], str], Callable[[], None], str]] = {
        "cli": (git_change, cli, NAMESPACE),
        "engine": (git_change, in_process, NAMESPACE),
        "kubectl": (kubectl_change, kubectl, KUBECTL_NAMESPACE),
        "startup": (lambda: "", startup, ""),
    }
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for number in range(RUNS + 1):
        order = names[number % len(names) :] + names[: number % len(names)]
        for name in order:
            change, act, namespace = contenders[name]
            value = change()
            start = time.perf_counter()
            act()
            took = time.perf_counter() - start
            live = core.read_namespaced_config_map(CONFIGMAP, namespace).data["MARKETS"] if namespace else value
            if live != value:
                raise RuntimeError(f"{name}: the ConfigMap holds {live!r}, not the new {value!r}")
            if number:  # the first round is the warm-up
                seconds[name].append(took)
        if number:
            print(
                f"run {number}: "
                + ", ".join(f"{name} {seconds[name][-1]:.2f} s" for name in order)
                + f" (order {'/'.join(order)})",
                flush=True,
            )

    cli_s, engine_s, kubectl_s, startup_s = (statistics.median(seconds[n]) for n in names)
    what_kubectl = "`kubectl apply --server-side -f DIR` (new process) of the same objects"
    objects_text = f"{len(objects)} objects: {', '.join(kinds)}"
    rows = [
        Row(
            what=f"`gitopsctl sync {APP} {ENV}` as a new process, exec to exit (Git fetch, render, server-side apply, "
            f"record; warm Git cache; {objects_text}; a ConfigMap value changed in Git each run), median of {RUNS}",
            figure=f"{cli_s:.2f} s (max {max(seconds['cli']):.2f} s)",
            target=f"< {TARGET:g} s",
            ratio=ratio(cli_s, kubectl_s, what=what_kubectl),
            passed=max(seconds["cli"]) < TARGET,
        ),
        Row(
            what=f"engine.sync({APP}, {ENV}) in-process on an Engine that synced before (Git fetch, render, "
            f"server-side apply, record; a ConfigMap value changed in Git each run), median of {RUNS}",
            figure=f"{engine_s:.2f} s (max {max(seconds['engine']):.2f} s)",
            target=f"< {TARGET:g} s",
            ratio=ratio(engine_s, kubectl_s, what=what_kubectl),
            passed=max(seconds["engine"]) < TARGET,
        ),
        Row(
            what=f"`kubectl apply --server-side -f DIR` as a new process, exec to exit (the objects gitopsctl "
            f"applies, already rendered on disk, in a namespace of their own; a ConfigMap value changed each run; "
            f"warm discovery cache), median of {RUNS}",
            figure=f"{kubectl_s:.2f} s (max {max(seconds['kubectl']):.2f} s)",
            ratio="the alternative the rows above are compared with",
        ),
        Row(
            what=f"`gitopsctl --help` as a new process, exec to exit: the interpreter's start and the imports made "
            f"before any command runs (no cluster, no Git), median of {RUNS}",
            figure=f"{startup_s:.2f} s (max {max(seconds['startup']):.2f} s)",
            ratio=f"{startup_s / cli_s:.0%} of the `gitopsctl sync` process's median",
        ),
    ]
    return report("sync_vs_kubectl", rows)


if __name__ == "__main__":
    sys.exit(main())
