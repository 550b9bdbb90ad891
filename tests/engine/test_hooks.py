"""Sync hooks and waves on the sandbox: a migration before the new version, a crash-looping one that stops the
sync, waves that wait for each other, and hooks that are never part of what the app declares."""

from __future__ import annotations

import time

import git
import yaml
from kubernetes import client as k8s
from kubernetes import watch

from demo.seed import deployment_yaml
from tests.engine.conftest import all_objects

NS = "trading-dev"


def job(name: str, phase: str, image: str = "registry.local/trade-service:v1.4.2", **annotations: str) -> str:
    """A hook Job; a ``-crashloop`` image restarts in its pod (OnFailure), as a migration that cannot start does."""
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": {"argocd.argoproj.io/hook": phase, **annotations}},
            "spec": {
                "backoffLimit": 2,
                "template": {
                    "spec": {
                        "restartPolicy": "OnFailure" if image.endswith("-crashloop") else "Never",
                        "containers": [{"name": name, "image": image}],
                    }
                },
            },
        }
    )


def in_wave(text: str, wave: str, annotation: str = "argocd.argoproj.io/sync-wave") -> str:
    obj = yaml.safe_load(text)
    obj["metadata"].setdefault("annotations", {})[annotation] = wave
    return yaml.safe_dump(obj)


def database(image: str = "registry.local/trade-db:v1") -> str:
    return in_wave(deployment_yaml("trade-db", image, 1), "-1")


FLAGS = in_wave(
    '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "feature-flags"}}', "1", "gitopsctl.io/sync-wave"
)


def bump(fleet) -> dict[str, str]:
    path = "apps/trade-service/dev/deployment.yaml"
    return {path: fleet.repo.read(path).replace("v1.4.1", "v1.4.2")}


def app_objects(fleet) -> dict[str, str]:
    """The app's objects in dev, without gitopsctl's sync record (which records the failed sync)."""
    return {k: v for k, v in all_objects(fleet, NS).items() if not k.startswith("cm/gitopsctl-sync-")}


def image(fleet) -> str:
    return fleet.apps.read_namespaced_deployment("trade-service", NS).spec.template.spec.containers[0].image


def head(fleet) -> str:
    return git.Repo(fleet.repo.url).commit("main").hexsha


def jobs(fleet) -> dict[str, str]:
    """name -> Complete | Failed | Running of every Job in dev."""
    found = {}
    for item in k8s.BatchV1Api(fleet.core.api_client).list_namespaced_job(NS).items:
        ended = [
            c.type for c in item.status.conditions or [] if c.type in ("Complete", "Failed") and c.status == "True"
        ]
        found[item.metadata.name] = ended[0] if ended else "Running"
    return found


def changes_since(fleet, resource_version: str, namespace: str = NS) -> list[tuple[int, str, dict]]:
    """Every change to Jobs and Deployments in a namespace after ``resource_version``, in the cluster's own order."""
    batch, apps = k8s.BatchV1Api(fleet.core.api_client), k8s.AppsV1Api(fleet.core.api_client)
    changes = []
    for kind, lister in (("Job", batch.list_namespaced_job), ("Deployment", apps.list_namespaced_deployment)):
        for event in watch.Watch().stream(lister, namespace, resource_version=resource_version, timeout_seconds=1):
            obj = event["object"]
            changes.append((int(obj.metadata.resource_version), kind, obj))
    return sorted(changes, key=lambda c: c[0])


def test_a_presync_migration_runs_to_completion_before_the_new_version_is_applied(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    fleet.repo.commit({"apps/trade-service/dev/migrate.yaml": job("migrate", "PreSync")}, "add the migration")
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    first = head(fleet)
    mark = fleet.core.list_namespace().metadata.resource_version
    fleet.repo.commit(bump(fleet), "v1.4.2")
    messages: list[str] = []
    result = fleet.engine.sync("trade-service", "dev", wait=True, timeout=20, progress=messages.append)
    second = head(fleet)
    assert result.result == "Succeeded" and image(fleet).endswith(":v1.4.2")
    migration = f"migrate-{second[:8]}"
    assert [(h.phase, h.ref.name, h.result) for h in result.hooks] == [("PreSync", migration, "Succeeded")]

    changes = changes_since(fleet, mark)
    completed = next(
        rv
        for rv, kind, obj in changes
        if kind == "Job" and obj.metadata.name == migration and (obj.status and obj.status.completion_time)
    )
    rolled = next(
        rv
        for rv, kind, obj in changes
        if kind == "Deployment" and obj.spec.template.spec.containers[0].image.endswith(":v1.4.2")
    )
    assert completed < rolled  # the cluster saw the migration finish before the Deployment changed
    assert any(m.startswith(f"deleted the earlier hook Job {NS}/migrate-{first[:8]}") for m in messages)
    assert jobs(fleet) == {migration: "Complete"}  # BeforeHookCreation: the earlier revision's Job is gone

    row = fleet.engine.status("trade-service", "dev")[0]
    assert (row.sync, row.drift, row.health) == ("Synced", "Clean", "Healthy")  # a hook is not what the app declares
    assert fleet.engine.diff("trade-service", "dev").in_sync
    entry = fleet.engine.history("trade-service", "dev")[0]
    assert (entry.hooks, entry.hooks_shown) == ((f"PreSync Job {migration} Succeeded",), "PreSync ok")


def test_a_crash_looping_presync_job_fails_the_sync_with_nothing_else_applied(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    before = app_objects(fleet)
    fleet.repo.commit(
        {
            "apps/trade-service/dev/migrate.yaml": job(
                "migrate", "PreSync", "registry.local/trade-service:v1.4.2-crashloop"
            ),
            "apps/trade-service/dev/page.yaml": job(
                "page-oncall", "SyncFail", **{"argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}
            ),
            **bump(fleet),
        },
        "v1.4.2 with a migration that cannot start",
    )
    sha = head(fleet)
    result = fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    assert result.result == "Failed"
    assert result.message.startswith(f"PreSync hook Job {NS}/migrate-{sha[:8]} failed: pod migrate-{sha[:8]}-")
    assert "container migrate is in CrashLoopBackOff; nothing else was applied" in result.message
    assert app_objects(fleet) == before and image(fleet).endswith(":v1.4.1")
    assert [(h.phase, h.result) for h in result.hooks] == [("PreSync", "Failed"), ("SyncFail", "Succeeded")]
    assert f"page-oncall-{sha[:8]}" not in jobs(fleet)  # HookSucceeded: deleted once it had run
    entry = fleet.engine.history("trade-service", "dev")[0]
    assert (entry.result, entry.revision) == ("Failed", sha) and "CrashLoopBackOff" in entry.message


def test_waves_apply_in_order_and_each_waits_for_the_one_before_to_be_healthy(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    fleet.repo.commit(
        {"apps/trade-service/dev/db.yaml": database(), "apps/trade-service/dev/flags.yaml": FLAGS}, "waves"
    )
    mark = fleet.core.list_namespace().metadata.resource_version
    messages: list[str] = []
    result = fleet.engine.sync("trade-service", "dev", wait=True, timeout=20, progress=messages.append)
    assert result.result == "Succeeded", result.message
    assert [m.split(":")[0] for m in messages if m.startswith("wave ")] == ["wave -1", "wave 0", "wave 1"]
    applied = [m.removeprefix("applied ") for m in messages if m.startswith("applied ")]
    assert applied.index(f"Deployment {NS}/trade-db") < applied.index(f"ConfigMap {NS}/feature-flags")
    db_available = next(
        rv
        for rv, kind, obj in changes_since(fleet, mark)
        if kind == "Deployment"
        and obj.metadata.name == "trade-db"
        and ((obj.status and obj.status.available_replicas) or 0) >= 1
    )
    flags = fleet.core.read_namespaced_config_map("feature-flags", NS)
    assert db_available < int(flags.metadata.resource_version)  # wave 1 waited for wave -1 to be available


def test_a_wave_that_never_becomes_healthy_stops_the_later_waves(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    broken = yaml.safe_load(database("registry.local/trade-db:v1-crashloop"))
    broken["spec"]["progressDeadlineSeconds"] = 1
    fleet.repo.commit(
        {"apps/trade-service/dev/db.yaml": yaml.safe_dump(broken), "apps/trade-service/dev/flags.yaml": FLAGS}, "waves"
    )
    result = fleet.engine.sync("trade-service", "dev", timeout=15)
    assert result.result == "Failed"
    assert result.message.startswith(f"wave -1 is not Healthy (Degraded: Deployment {NS}/trade-db:")
    assert result.message.endswith("later waves were not applied")
    assert "cm/feature-flags" not in all_objects(fleet, NS)


def test_a_failing_postsync_smoke_test_fails_the_sync_after_the_app_is_healthy(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    smoke = job(
        "smoke",
        "PostSync",
        "registry.local/trade-service:v1.4.2-crashloop",
        **{"argocd.argoproj.io/hook-delete-policy": "HookFailed"},
    )
    fleet.repo.commit({"apps/trade-service/dev/smoke.yaml": smoke, **bump(fleet)}, "v1.4.2 with a smoke test")
    sha = head(fleet)
    messages: list[str] = []
    result = fleet.engine.sync("trade-service", "dev", timeout=20, progress=messages.append)
    assert result.result == "Failed"
    assert result.message.startswith(f"PostSync hook Job {NS}/smoke-{sha[:8]} failed: pod smoke-{sha[:8]}-")
    assert result.health == "Healthy" and image(fleet).endswith(":v1.4.2")  # it ran once the app was Healthy
    started = next(i for i, m in enumerate(messages) if m.startswith("PostSync hook"))
    assert messages[started - 1] == "health: Healthy"
    assert f"smoke-{sha[:8]}" not in jobs(fleet)  # HookFailed: deleted once it had failed


def test_a_hook_never_deletes_an_object_of_its_name_that_is_not_this_hook(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    fleet.repo.commit({"apps/trade-service/dev/migrate.yaml": job("migrate", "PreSync"), **bump(fleet)}, "v1.4.2")
    name = f"migrate-{head(fleet)[:8]}"
    someone_elses = yaml.safe_load(job(name, "PreSync"))
    del someone_elses["metadata"]["annotations"]
    k8s.BatchV1Api(fleet.core.api_client).create_namespaced_job(NS, someone_elses)

    result = fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    assert result.result == "Failed"
    assert f"PreSync hook Job {NS}/{name} failed: Job {NS}/{name} already exists and is not this hook" in (
        result.message
    )
    assert "rename the hook in Git or remove that object" in result.message
    assert name in jobs(fleet) and image(fleet).endswith(":v1.4.1")  # left alone, and nothing else applied
    labels = k8s.BatchV1Api(fleet.core.api_client).read_namespaced_job(name, NS).metadata.labels or {}
    assert "gitopsctl.io/hook" not in labels


def test_a_hook_job_has_its_own_time_limit_in_active_deadline_seconds(fleet, monkeypatch):
    """A migration that hangs fails at its Job's deadline (Kubernetes ends it), long before the sync's timeout."""
    monkeypatch.setattr(fleet.sandbox.controllers.timing, "run_time", 120.0)  # its pod runs for two minutes
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    migration = yaml.safe_load(job("migrate", "PreSync"))
    migration["spec"]["activeDeadlineSeconds"] = 2
    fleet.repo.commit({"apps/trade-service/dev/migrate.yaml": yaml.safe_dump(migration), **bump(fleet)}, "v1.4.2")
    name = f"migrate-{head(fleet)[:8]}"
    started = time.monotonic()
    result = fleet.engine.sync("trade-service", "dev", wait=True, timeout=90)
    assert time.monotonic() - started < 30  # its own limit, not the sync's 90 s
    assert result.result == "Failed"
    assert result.message.startswith(
        f"PreSync hook Job {NS}/{name} failed: DeadlineExceeded: Job was active longer than specified deadline"
    )
    assert jobs(fleet)[name] == "Failed" and image(fleet).endswith(":v1.4.1")  # nothing else applied
