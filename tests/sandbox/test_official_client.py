"""The official kubernetes client against the sandbox, as it would talk to a real cluster."""

from __future__ import annotations

import threading
import time

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from tests.conftest import available, configmap, deployment, wait_for


def test_dynamic_client_creates_gets_and_lists_with_label_selectors(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body=configmap("a", labels={"app": "trade", "tier": "web"}), namespace="default")
    cms.create(body=configmap("b", labels={"app": "trade", "tier": "db"}), namespace="default")
    cms.create(body=configmap("c", labels={"app": "pricing"}), namespace="default")

    assert cms.get(name="a", namespace="default").metadata.labels["tier"] == "web"

    def names(selector: str) -> list[str]:
        return [i.metadata.name for i in cms.get(namespace="default", label_selector=selector).items]

    assert names("app=trade") == ["a", "b"]
    assert names("app==trade,tier!=db") == ["a"]
    assert names("tier in (db,cache)") == ["b"]
    assert names("app notin (trade)") == ["c"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c"]
    fields = [i.metadata.name for i in cms.get(namespace="default", field_selector="metadata.name=b").items]
    assert fields == ["b"]


def test_replace_with_a_stale_resource_version_is_a_409_conflict(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    created = cms.create(body=configmap("cfg", {"k": "1"}), namespace="default").to_dict()
    fresh = dict(created, data={"k": "2"})
    cms.replace(body=fresh, namespace="default")
    stale = dict(created, data={"k": "3"})
    with pytest.raises(ConflictError) as err:
        cms.replace(body=stale, namespace="default")
    assert err.value.status == 409
    assert "the object has been modified" in str(err.value.body)
    assert cms.get(name="cfg", namespace="default").data["k"] == "2"


def test_server_side_apply_removes_a_field_the_manager_no_longer_applies(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.server_side_apply(
        body=configmap("cfg", {"keep": "1", "drop": "2"}), namespace="default", field_manager="gitopsctl"
    )
    second = cms.server_side_apply(body=configmap("cfg", {"keep": "1"}), namespace="default", field_manager="gitopsctl")
    assert second.data.to_dict() == {"keep": "1"}
    assert cms.get(name="cfg", namespace="default").data.to_dict() == {"keep": "1"}


def test_server_side_apply_keeps_fields_another_manager_owns(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.server_side_apply(body=configmap("cfg", {"mine": "1"}), namespace="default", field_manager="gitopsctl")
    cms.patch(
        body={"data": {"theirs": "x"}},
        name="cfg",
        namespace="default",
        content_type="application/merge-patch+json",
        field_manager="kubectl-edit",
    )
    cms.server_side_apply(body=configmap("cfg", {"mine": "2"}), namespace="default", field_manager="gitopsctl")
    live = cms.get(name="cfg", namespace="default")
    assert live.data.to_dict() == {"mine": "2", "theirs": "x"}
    managers = {entry.manager: entry.operation for entry in live.metadata.managedFields}
    assert managers == {"gitopsctl": "Apply", "kubectl-edit": "Update"}


def test_two_field_managers_conflict_without_force(dyn):
    deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deps.server_side_apply(body=deployment("web", replicas=2), namespace="default", field_manager="gitopsctl")
    with pytest.raises(ConflictError) as err:
        deps.server_side_apply(body=deployment("web", replicas=5), namespace="default", field_manager="hpa-tool")
    body = str(err.value.body)
    assert 'conflict with \\"gitopsctl\\"' in body and ".spec.replicas" in body
    assert deps.get(name="web", namespace="default").spec.replicas == 2

    forced = deps.server_side_apply(
        body=deployment("web", replicas=5), namespace="default", field_manager="hpa-tool", force_conflicts=True
    )
    assert forced.spec.replicas == 5
    owners = {e.manager: e.fieldsV1.to_dict() for e in forced.metadata.managedFields}
    assert "f:replicas" in owners["hpa-tool"]["f:spec"]
    assert "f:replicas" not in owners["gitopsctl"]["f:spec"]


def test_applying_the_same_value_as_another_manager_shares_the_field(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.server_side_apply(body=configmap("cfg", {"k": "1"}), namespace="default", field_manager="one")
    shared = cms.server_side_apply(body=configmap("cfg", {"k": "1"}), namespace="default", field_manager="two")
    assert sorted(e.manager for e in shared.metadata.managedFields) == ["one", "two"]


def test_dry_run_returns_the_result_and_stores_nothing(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    preview = cms.create(body=configmap("ghost", {"k": "v"}), namespace="default", dry_run="All")
    assert preview.metadata.name == "ghost" and preview.data.k == "v"
    with pytest.raises(NotFoundError):
        cms.get(name="ghost", namespace="default")

    cms.create(body=configmap("real", {"k": "1"}), namespace="default")
    before = cms.get(name="real", namespace="default").metadata.resourceVersion
    applied = cms.server_side_apply(
        body=configmap("real", {"k": "2"}), namespace="default", field_manager="x", force_conflicts=True, dry_run="All"
    )
    assert applied.data.k == "2"
    cms.delete(name="real", namespace="default", dry_run="All")
    after = cms.get(name="real", namespace="default")
    assert after.data.k == "1" and after.metadata.resourceVersion == before


def test_watch_receives_changes_made_after_it_starts(core):
    start_rv = core.list_namespaced_config_map("default").metadata.resource_version
    seen: list[tuple[str, str]] = []

    def consume() -> None:
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_config_map, "default", resource_version=start_rv, timeout_seconds=5):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 3:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.3)
    core.create_namespaced_config_map("default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="w1"), data={"a": "1"}))
    core.patch_namespaced_config_map("w1", "default", {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w1", "default")
    thread.join(timeout=10)
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_a_lease_is_acquired_and_renewed_by_kubernetes_leaderelection(api_client, core):
    lock = LeaseLock("gitopsctl-leader", "default", "replica-a")
    lock.api_instance = k8s.CoordinationV1Api(api_client)  # LeaseLock builds its client from the default config
    started = threading.Event()
    stop = threading.Event()

    def on_started() -> None:
        started.set()
        stop.wait(10)
        # the library has no stop call; a raising callback makes it stop renewing and return
        raise RuntimeError("test finished: stop leading")

    config = electionconfig.Config(
        lock,
        lease_duration=4,
        renew_deadline=3,
        retry_period=1,
        onstarted_leading=on_started,
        onstopped_leading=lambda: None,
    )
    election = leaderelection.LeaderElection(config)
    thread = threading.Thread(target=election.run, daemon=True)
    thread.start()
    try:
        assert started.wait(10), "replica-a never became leader"
        leases = k8s.CoordinationV1Api(api_client)
        first = leases.read_namespaced_lease("gitopsctl-leader", "default")
        assert first.spec.holder_identity == "replica-a"
        wait_for(
            lambda: leases.read_namespaced_lease("gitopsctl-leader", "default").spec.renew_time > first.spec.renew_time,
            timeout=5,
            message="the lease to be renewed",
        )

        rival = LeaseLock("gitopsctl-leader", "default", "replica-b")
        rival.api_instance = leases
        ok, record = rival.get("gitopsctl-leader", "default")
        assert ok and record.holder_identity == "replica-a"
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive(), "the election did not stop"


def test_every_builtin_kind_reads_back_through_the_typed_client(api_client, core, dyn):
    """The typed models validate required fields strictly, so every object the sandbox makes must be complete."""
    pod_template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x", "image": "img:1"}]}}
    job_template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "img:1"}]}}
    for body in (
        deployment("typed", replicas=1),
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "x"}},
                "template": pod_template,
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": pod_template},
        },
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"}, "spec": {"template": job_template}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]},
        },
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}},
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web"},
            "spec": {
                "rules": [
                    {
                        "host": "web.local",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "typed"},
                "maxReplicas": 5,
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "x"}}},
        },
    ):
        dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"]).create(body=body, namespace="default")

    apps, batch = k8s.AppsV1Api(api_client), k8s.BatchV1Api(api_client)
    wait_for(
        lambda: (
            available(apps, "typed") == 1
            and apps.read_namespaced_stateful_set("db", "default").status.ready_replicas == 2
            and apps.read_namespaced_daemon_set("agent", "default").status.number_ready == 1
            and batch.read_namespaced_job("migrate", "default").status.succeeded == 1
            and core.read_namespaced_persistent_volume_claim("data", "default").status.phase == "Bound"
        ),
        message="every workload to become ready",
    )
    assert apps.list_namespaced_replica_set("default").items[0].status.ready_replicas == 1
    pods = core.list_namespaced_pod("default").items
    assert {p.status.phase for p in pods} == {"Running", "Succeeded"}
    assert all(cs.image_id for p in pods for cs in p.status.container_statuses)
    assert core.read_node("sandbox-node").status.node_info.kubelet_version
    assert core.read_namespaced_service("web", "default").spec.cluster_ip.startswith("10.96.")
    assert core.read_namespaced_service("kubernetes", "default").spec.cluster_ip == "10.96.0.1"
    assert core.read_namespaced_secret("creds", "default").data == {"password": "aHVudGVyMg=="}
    assert core.read_namespaced_service_account("bot", "default").metadata.uid
    assert core.list_namespaced_event("default").items
    assert k8s.NetworkingV1Api(api_client).read_namespaced_ingress("web", "default").spec.rules[0].host == "web.local"
    assert (
        k8s.AutoscalingV2Api(api_client).read_namespaced_horizontal_pod_autoscaler("web", "default").spec.max_replicas
        == 5
    )
    assert k8s.PolicyV1Api(api_client).read_namespaced_pod_disruption_budget("web", "default").spec.min_available == 1


@pytest.mark.parametrize("user", [{"token": "not-the-token"}, {}], ids=["wrong-token", "no-token"])
def test_a_wrong_or_missing_token_is_401(sandbox, tmp_path, user):
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["users"][0]["user"] = user
    path = tmp_path / "bad-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ApiException) as err:
        k8s.CoreV1Api(kube_config.new_client_from_config(str(path))).list_namespace()
    assert err.value.status == 401
