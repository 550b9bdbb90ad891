"""Drift scan of a fleet: 200 apps x 3 environments x 5 objects, synced, 1% changed by hand.

Prints: objects, API requests made by the scan (counted by the API server, from
its audit log, and compared with the engine's own count), wall seconds, drift found (must
equal the changes made), and the time of one app's sync from trigger to applied.
Targets (issue 3): at most one LIST per (kind, namespace); the scan under 2 s;
one sync under 5 s. Run: .venv/bin/python bench/drift_scan.py
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402

from bench.harness import sandbox_process  # noqa: E402
from demo.seed import GitOpsRepo, deployment_yaml, service_yaml  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from kubesandbox.command import admin_call  # noqa: E402

APPS = 200
ENVS = {"dev": "fleet-dev", "staging": "fleet-staging", "prod": "fleet-prod"}
CHANGED_FRACTION = 0.01


def app_files(app: str, env: str) -> dict[str, str]:
    base = f"apps/{app}/{env}"
    return {
        f"{base}/deployment.yaml": deployment_yaml(app, f"registry.local/{app}:v1.0.0", 1),
        f"{base}/service.yaml": service_yaml(app),
        f"{base}/config.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}-config\ndata:\n  LEVEL: info\n",
        f"{base}/secret.yaml": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {app}-secret\nstringData:\n  token: t-{app}-{env}\n",
        f"{base}/sa.yaml": f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {app}\n",
    }


def config_text(repo: GitOpsRepo, kubeconfig: Path, cache: Path) -> str:
    text = f'[git]\nurl = "{repo.url}"\ncache_dir = "{cache}"\n\n'
    for env, ns in ENVS.items():
        text += f'[environments.{env}]\ncontext = "sandbox"\nkubeconfig = "{kubeconfig}"\nnamespace = "{ns}"\n\n'
    for i in range(APPS):
        text += textwrap.dedent(f'[apps.app-{i:03d}]\npath = "apps/app-{i:03d}/{{env}}"\ncontainer = "app-{i:03d}"\n\n')
    return text


def fleet_repo(tmp: Path, kubeconfig: Path, extra: str = "") -> Path:
    """A real Git repository of APPS apps x ENVS and the configuration for it; the configuration's path."""
    repo = GitOpsRepo(tmp)
    files: dict[str, str | None] = {}
    for i in range(APPS):
        for env in ENVS:
            files.update(app_files(f"app-{i:03d}", env))
    repo.commit(files, "fleet")
    config_path = tmp / "gitopsctl.toml"
    config_path.write_text(config_text(repo, kubeconfig, tmp / "cache") + extra)
    return config_path


def main() -> None:
    random.seed(7)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(tmp / "cluster"):
            run(tmp, tmp / "cluster" / "kubeconfig")


def run(tmp: Path, kubeconfig: Path) -> None:
    config_path = fleet_repo(tmp, kubeconfig)
    config = config_module.load(str(config_path))

    engine = Engine(config)
    sync_seconds = []
    for app in config.apps:
        for env in ENVS:
            start = time.perf_counter()
            result = engine.sync(app, env)
            sync_seconds.append(time.perf_counter() - start)
            assert result.result == "Succeeded" and len(result.applied) == 5

    core = k8s.CoreV1Api(kube_config.new_client_from_config(str(kubeconfig)))
    objects = APPS * len(ENVS) * 5
    changes = int(objects * CHANGED_FRACTION)
    targets = random.sample([(f"app-{i:03d}", ns) for i in range(APPS) for ns in ENVS.values()], changes)
    for app, namespace in targets:
        core.patch_namespaced_config_map(
            f"{app}-config", namespace, {"data": {"LEVEL": "debug"}}, field_manager="kubectl-edit"
        )

    # warm: the engine that synced (renders cached); cold: a fresh process's engine (clone and render everything)
    admin = kube_config.new_client_from_config(str(kubeconfig))
    before = audited(admin, 0)[0]
    warm_start = time.perf_counter()
    warm = engine.drift()
    warm_seconds = time.perf_counter() - warm_start
    after_warm, warm_seen = audited(admin, before)
    cold_engine = Engine(config_module.load(str(config_path)))
    cold_start = time.perf_counter()
    cold = cold_engine.drift()
    cold_seconds = time.perf_counter() - cold_start
    _, cold_seen = audited(admin, after_warm)
    found = sum(len(d.resources) for d in warm.drifted)
    assert found == changes == sum(len(d.resources) for d in cold.drifted), (found, changes)
    kinds_namespaces = 5 * len(ENVS)

    print(f"objects in Git and the cluster       {objects}  ({APPS} apps x {len(ENVS)} envs x 5)")
    print(f"changed by hand                      {changes}")
    print(f"drift found                          {found}  (must equal the changes)")
    warm_verbs, cold_verbs = verbs(warm_seen), verbs(cold_seen)
    print(
        f"API requests of one scan, audit log  {len(warm_seen)}  ({warm_verbs}; the engine counted {warm.requests}; "
        f"{kinds_namespaces} (kind, namespace) pairs + {len(ENVS)} record lists)"
    )
    print(f"  of a cold engine's scan            {len(cold_seen)}  ({cold_verbs})")
    print(f"scan wall time, warm engine          {warm_seconds:.2f} s   target < 2 s")
    print(f"scan wall time, cold engine          {cold_seconds:.2f} s   (fresh clone and {APPS * len(ENVS)} renders)")
    print(
        f"one app's sync, trigger to applied   median {statistics.median(sync_seconds) * 1000:.0f} ms   "
        f"max {max(sync_seconds) * 1000:.0f} ms   target < 5 s"
    )
    check(warm_seen, kinds_namespaces + len(ENVS), "warm")
    if len(warm_seen) != warm.requests:
        print(f"FAIL: the engine counted {warm.requests} requests, the API server saw {len(warm_seen)}")
        sys.exit(1)
    if warm_seconds >= 2 or max(sync_seconds) >= 5:
        print("FAIL: a target was missed")
        sys.exit(1)


def audited(admin, after: int) -> tuple[int, list[dict]]:
    """The API server's audit events numbered above ``after`` (the admin's ``/sandbox/audit``), and the newest number.

    The read itself is an audited request too; it is left out."""
    status, answer = admin_call(admin, "GET", f"/sandbox/audit?after={after}")
    assert status == 200, answer
    events = [e for e in answer["items"] if not e["requestURI"].startswith("/sandbox/")]
    return int(answer["metadata"]["resourceVersion"]), events


def verbs(events: list[dict]) -> str:
    counted: dict[str, int] = {}
    for event in events:
        counted[event["verb"]] = counted.get(event["verb"], 0) + 1
    return ", ".join(f"{n} {verb}" for verb, n in sorted(counted.items()))


def check(events: list[dict], allowed_lists: int, label: str) -> None:
    """The target, checked on what the server saw: no GETs, at most one LIST per (kind, namespace) and records list."""
    gets = [e for e in events if e["verb"] == "get" and "objectRef" in e and e["objectRef"].get("name")]
    lists = [e for e in events if e["verb"] == "list"]
    if gets or len(lists) > allowed_lists:
        print(f"FAIL: the {label} scan made {len(gets)} GETs and {len(lists)} LISTs (at most {allowed_lists})")
        sys.exit(1)


if __name__ == "__main__":
    main()
