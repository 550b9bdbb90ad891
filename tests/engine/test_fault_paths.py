"""Every error path has a defined outcome, driven by faults the sandbox injects (never patched calls)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config

from gitopsctl.errors import ClusterError, GitOpsError, SourceError
from tests.conftest import wait_for


def _history(fleet, app: str, env: str):
    return fleet.engine.history(app, env)


def test_a_namespace_someone_else_creates_mid_sync_is_not_an_error(fleet):
    assert "trading-dev" not in {n.metadata.name for n in fleet.core.list_namespace().items}  # never synced
    # gitopsctl found it missing; while its create is on the wire, someone else creates it: kube-apiserver says 409
    slow = fleet.sandbox.faults.add(
        verbs=["create"],
        resource="namespaces",
        name="trading-dev",
        user="sandbox-admin",
        latency=1.0,
        status=409,
        count=1,
    )
    someone = k8s.CoreV1Api(kube_config.new_client_from_config(str(fleet.sandbox.add_user("someone"))))
    fleet.grant("someone")
    with ThreadPoolExecutor(1) as pool:
        syncing = pool.submit(fleet.engine.sync, "trade-service", "dev", wait=True, timeout=30)
        wait_for(lambda: slow.fired == 1, 30, message="gitopsctl's create of the namespace")
        someone.create_namespace({"metadata": {"name": "trading-dev"}})
        result = syncing.result(timeout=60)
    assert result.result == "Succeeded", result.message
    assert fleet.engine.status("trade-service", "dev")[0].health == "Healthy"


def test_api_unavailable_during_the_dry_run_is_one_sentence_and_a_failed_history_entry(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=30)
    before = len(_history(fleet, "trade-service", "dev"))
    fleet.sandbox.faults.add(verbs=["patch"], resource="deployments", namespace="trading-dev", status=503, seconds=60)
    with pytest.raises(ClusterError) as failed:
        fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
    assert "\n" not in str(failed.value) and "unable to handle the request" in str(failed.value)
    fleet.sandbox.faults.remove()
    history = _history(fleet, "trade-service", "dev")
    assert len(history) == before + 1 and history[0].result == "Failed"


def test_a_conflict_in_the_servers_dry_run_is_a_refusal_in_one_sentence_and_nothing_is_written(fleet):
    rule = fleet.sandbox.faults.add(
        verbs=["patch"], resource="configmaps", name="trade-service-config", status=409, count=1
    )
    with pytest.raises(GitOpsError) as refused:
        fleet.engine.sync("trade-service", "dev", wait=True, timeout=30)
    assert rule.fired == 1 and "\n" not in str(refused.value)
    assert "trade-service-config was refused by the cluster" in str(refused.value)
    assert _history(fleet, "trade-service", "dev") == []  # refused before anything changed: no history either
    assert fleet.engine.sync("trade-service", "dev", wait=True, timeout=30).result == "Succeeded"


def test_a_git_server_that_refuses_pushes_is_one_sentence_and_nothing_changes(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=30)
    hook = Path(fleet.repo.url) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch main is frozen by the release manager' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = _history(fleet, "trade-service", "dev")
    with pytest.raises(SourceError, match="refused the push: branch main is frozen by the release manager"):
        fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
    assert _history(fleet, "trade-service", "dev") == before
    live = fleet.apps.read_namespaced_deployment("trade-service", "trading-dev")
    assert live.spec.template.spec.containers[0].image.endswith(":v1.4.1")
    hook.unlink()
    assert fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice", wait=True).status == "Deployed"


def test_an_unreachable_git_server_is_one_sentence_per_app_and_nothing_changes(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=30)
    away = Path(fleet.repo.url).with_name("gitops-away.git")
    Path(fleet.repo.url).rename(away)
    try:
        with pytest.raises(SourceError, match="cannot fetch"):
            fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
        live = fleet.apps.read_namespaced_deployment("trade-service", "trading-dev")
        assert live.spec.template.spec.containers[0].image.endswith(":v1.4.1")
    finally:
        away.rename(fleet.repo.url)


def test_the_record_store_writes_only_on_the_version_it_read(fleet):
    from gitopsctl.cluster.stored import RecordStore
    from gitopsctl.errors import ConflictError

    store = RecordStore(fleet.engine.cluster(fleet.engine.config.environments["dev"]), "trading-dev")
    labels = {"gitopsctl.io/test": "true"}
    first = store.write("gitopsctl-test-record", labels, {"a": "1"}, None)
    with pytest.raises(ConflictError):
        store.write("gitopsctl-test-record", labels, {"a": "0"}, None)  # someone created it first
    store.write("gitopsctl-test-record", labels, {"a": "2"}, first)
    with pytest.raises(ConflictError):
        store.write("gitopsctl-test-record", labels, {"a": "3"}, first)  # read before the last write: refused
    races = fleet.sandbox.faults.add(verbs=["update"], resource="configmaps", status=409, count=2)  # two lost races
    assert store.change("gitopsctl-test-record", labels, lambda data: ({**data, "b": "x"}, "done")) == "done"
    assert races.fired == 2
    assert store.read("gitopsctl-test-record").data == {"a": "2", "b": "x"}
