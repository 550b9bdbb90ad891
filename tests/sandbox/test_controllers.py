"""Simulated controllers: workloads behave as if their containers ran."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.conftest import available, deployment, wait_for


@pytest.fixture
def apps(api_client) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(api_client)


def _condition(dep: k8s.V1Deployment, type_: str) -> k8s.V1DeploymentCondition | None:
    return next((c for c in dep.status.conditions or [] if c.type == type_), None)


def test_a_deployment_becomes_available_with_owned_ready_pods(dyn, apps, core):
    dyn.resources.get(api_version="apps/v1", kind="Deployment").create(
        body=deployment("web", replicas=3), namespace="default"
    )
    wait_for(lambda: available(apps, "web") == 3, message="3 available replicas")
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.status.observed_generation == dep.metadata.generation
    assert (dep.status.updated_replicas, dep.status.ready_replicas) == (3, 3)
    assert _condition(dep, "Available").status == "True"
    assert _condition(dep, "Progressing").reason == "NewReplicaSetAvailable"

    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    assert len(pods) == 3
    rs = apps.list_namespaced_replica_set("default", label_selector="app=web").items[0]
    assert all(p.metadata.owner_references[0].uid == rs.metadata.uid for p in pods)
    assert rs.metadata.owner_references[0].uid == dep.metadata.uid
    assert all(p.status.phase == "Running" and p.status.container_statuses[0].ready for p in pods)


def test_scaling_changes_the_pod_count(dyn, apps, core):
    dyn.resources.get(api_version="apps/v1", kind="Deployment").create(
        body=deployment("web", replicas=2), namespace="default"
    )
    wait_for(lambda: available(apps, "web") == 2, message="2 available")
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 5}})
    wait_for(lambda: len(core.list_namespaced_pod("default", label_selector="app=web").items) == 5, message="5 pods")
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 1}})
    wait_for(lambda: len(core.list_namespaced_pod("default", label_selector="app=web").items) == 1, message="1 pod")
    wait_for(
        lambda: available(apps, "web") == 1,
        message="status to follow",
    )


def test_a_new_image_rolls_out_a_new_replicaset_and_retires_the_old(dyn, apps, core):
    deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deps.server_side_apply(body=deployment("web", image="web:v1", replicas=2), namespace="default", field_manager="t")
    wait_for(lambda: available(apps, "web") == 2, message="v1 available")
    deps.server_side_apply(body=deployment("web", image="web:v2", replicas=2), namespace="default", field_manager="t")

    def rolled_out() -> bool:
        dep = apps.read_namespaced_deployment("web", "default")
        pods = core.list_namespaced_pod("default", label_selector="app=web").items
        return (
            dep.status.observed_generation == 2
            and dep.status.updated_replicas == 2
            and dep.status.available_replicas == 2
            and dep.status.replicas == 2
            and {p.spec.containers[0].image for p in pods} == {"web:v2"}
        )

    wait_for(rolled_out, message="v2 to replace v1")
    sets = apps.list_namespaced_replica_set("default", label_selector="app=web").items
    assert sorted(rs.spec.replicas for rs in sets) == [0, 2]
    assert {rs.metadata.annotations["deployment.kubernetes.io/revision"] for rs in sets} == {"1", "2"}


def test_a_crashlooping_image_never_becomes_ready_and_exceeds_its_progress_deadline(dyn, apps, core):
    body = deployment("bad", image="registry.local/app:v3-crashloop", replicas=2, progressDeadlineSeconds=1)
    dyn.resources.get(api_version="apps/v1", kind="Deployment").create(body=body, namespace="default")

    def restarts() -> list[int]:
        pods = core.list_namespaced_pod("default", label_selector="app=bad").items
        return [cs.restart_count for p in pods for cs in (p.status.container_statuses or [])]

    wait_for(lambda: len(restarts()) == 2, message="two crashing pods")
    pod = core.list_namespaced_pod("default", label_selector="app=bad").items[0]
    assert pod.status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff"
    assert not pod.status.container_statuses[0].ready
    first = max(restarts())
    wait_for(lambda: max(restarts()) > first, message="restartCount to grow")

    def deadline_exceeded() -> bool:
        cond = _condition(apps.read_namespaced_deployment("bad", "default"), "Progressing")
        return cond is not None and cond.status == "False" and cond.reason == "ProgressDeadlineExceeded"

    wait_for(deadline_exceeded, timeout=15, message="ProgressDeadlineExceeded")
    dep = apps.read_namespaced_deployment("bad", "default")
    assert not dep.status.available_replicas
    assert _condition(dep, "Available").status == "False"


def test_a_crashlooping_rollout_keeps_the_old_version_serving(dyn, apps, core):
    deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deps.server_side_apply(body=deployment("web", image="web:v1", replicas=2), namespace="default", field_manager="t")
    wait_for(lambda: available(apps, "web") == 2, message="v1 available")
    deps.server_side_apply(
        body=deployment("web", image="web:v2-crashloop", replicas=2), namespace="default", field_manager="t"
    )
    wait_for(
        lambda: apps.read_namespaced_deployment("web", "default").status.updated_replicas == 2, message="v2 pods"
    )  # status exists: v1 rolled out
    ready_images = {
        p.spec.containers[0].image
        for p in core.list_namespaced_pod("default", label_selector="app=web").items
        if p.status.container_statuses and p.status.container_statuses[0].ready
    }
    assert ready_images == {"web:v1"}
    assert available(apps, "web") == 2


def _job(name: str, image: str, restart: str = "Never", **spec: object) -> dict:
    """A Job of one container; ``spec`` adds its limits (backoffLimit, activeDeadlineSeconds)."""
    template = {"spec": {"restartPolicy": restart, "containers": [{"name": "x", "image": image}]}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {**spec, "template": template}}


def test_a_job_with_a_crashlooping_image_fails_after_its_backoff_limit(dyn, api_client):
    body = _job("bad", "img:1-crashloop", backoffLimit=1)
    dyn.resources.get(api_version="batch/v1", kind="Job").create(body=body, namespace="default")
    batch = k8s.BatchV1Api(api_client)
    job = wait_for(
        lambda: (j := batch.read_namespaced_job("bad", "default")).status is not None and j.status.conditions and j,
        message="the job to finish",
    )
    assert [(c.type, c.reason) for c in job.status.conditions] == [
        ("FailureTarget", "BackoffLimitExceeded"),
        ("Failed", "BackoffLimitExceeded"),
    ]
    assert job.status.failed == 2


def test_a_job_active_longer_than_its_deadline_fails_and_its_pod_is_terminated(dyn, core, api_client):
    """activeDeadlineSeconds: the Job fails with DeadlineExceeded however many restarts it has left."""
    body = _job("slow", "img:1-crashloop", "OnFailure", backoffLimit=100, activeDeadlineSeconds=2)
    dyn.resources.get(api_version="batch/v1", kind="Job").create(body=body, namespace="default")
    batch = k8s.BatchV1Api(api_client)
    job = wait_for(
        lambda: (j := batch.read_namespaced_job("slow", "default")).status is not None and j.status.conditions and j,
        timeout=15,
        message="the job to fail",
    )
    assert [(c.type, c.reason, c.message) for c in job.status.conditions] == [
        ("FailureTarget", "DeadlineExceeded", "Job was active longer than specified deadline"),
        ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"),
    ]
    assert job.status.failed == 1 and not job.status.active
    wait_for(lambda: not core.list_namespaced_pod("default", label_selector="job-name=slow").items, message="no pod")


@pytest.mark.parametrize("field", ["activeDeadlineSeconds", "backoffLimit"])
def test_a_job_with_a_negative_limit_is_refused_as_kube_apiserver_refuses_it(dyn, field):
    body = _job("bad-limit", "i", **{field: -1})
    with pytest.raises(ApiException) as refused:
        dyn.resources.get(api_version="batch/v1", kind="Job").create(body=body, namespace="default")
    assert refused.value.status == 422
    assert f"spec.{field}: Invalid value: -1: must be greater than or equal to 0" in refused.value.body


def test_a_job_pod_runs_before_it_succeeds_and_a_watch_sees_each_phase(sandbox, dyn, core, api_client):
    sandbox.controllers.timing.run_time = 0.5
    template = {
        "metadata": {"labels": {"app": "once"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "img:1"}]},
    }
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"}, "spec": {"template": template}}
    batch = k8s.BatchV1Api(api_client)
    seen: list[k8s.V1Pod] = []
    since = core.list_namespaced_pod("default").metadata.resource_version
    stream = watch.Watch().stream(
        core.list_namespaced_pod, "default", label_selector="app=once", resource_version=since, timeout_seconds=10
    )
    dyn.resources.get(api_version="batch/v1", kind="Job").create(body=body, namespace="default")
    running_job = None
    for event in stream:
        pod = event["object"]
        if not seen or seen[-1].status.phase != pod.status.phase:
            seen.append(pod)
        if pod.status.phase == "Running" and running_job is None:
            running_job = batch.read_namespaced_job("once", "default")
        if pod.status.phase == "Succeeded":
            break
    assert [p.status.phase for p in seen] == ["Pending", "Running", "Succeeded"]
    running, done = seen[1].status.container_statuses[0], seen[2].status.container_statuses[0]
    assert running.ready and running.state.running.started_at
    assert (done.state.terminated.exit_code, done.state.terminated.reason) == (0, "Completed")
    assert done.state.terminated.started_at == running.state.running.started_at
    assert done.state.terminated.finished_at >= done.state.terminated.started_at
    assert running_job.status.active == 1 and not running_job.status.succeeded

    job = wait_for(
        lambda: (j := batch.read_namespaced_job("once", "default")).status.completion_time and j,
        message="the job to complete",
    )
    assert (job.status.succeeded, job.status.active, job.status.ready) == (1, None, 0)
    assert [(c.type, c.status, c.reason) for c in job.status.conditions] == [
        ("SuccessCriteriaMet", "True", "CompletionsReached"),
        ("Complete", "True", "CompletionsReached"),
    ]


def test_every_namespace_has_a_default_service_account_that_comes_back(core, sandbox):
    for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert core.read_namespaced_service_account("default", namespace).metadata.uid  # at once: no wait

    core.create_namespace({"metadata": {"name": "team"}})
    first = wait_for(lambda: _service_account(core, "team"), message="default in a new namespace")
    assert first.metadata.managed_fields is None or {e.manager for e in first.metadata.managed_fields} == {
        "kube-controller-manager"
    }
    core.delete_namespaced_service_account("default", "team")
    again = wait_for(
        lambda: (sa := _service_account(core, "team")) and sa.metadata.uid != first.metadata.uid and sa,
        message="default made again",
    )
    assert again.metadata.name == "default"


def _service_account(core: k8s.CoreV1Api, namespace: str) -> k8s.V1ServiceAccount | None:
    try:
        return core.read_namespaced_service_account("default", namespace)
    except k8s.ApiException as e:
        if e.status == 404:
            return None
        raise


def test_a_replication_controller_keeps_its_pods(dyn, core):
    labels = {"app": "legacy"}
    body = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 2,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "x", "image": "img:1"}]}},
        },
    }
    rcs = dyn.resources.get(api_version="v1", kind="ReplicationController")
    rcs.create(body=body, namespace="default")
    rc = wait_for(
        lambda: (
            (r := core.read_namespaced_replication_controller("legacy", "default")).status
            and r.status.ready_replicas == 2
            and r
        ),
        message="2 ready replicas",
    )
    pods = core.list_namespaced_pod("default", label_selector="app=legacy").items
    assert {p.metadata.owner_references[0].uid for p in pods} == {rc.metadata.uid}
    core.patch_namespaced_replication_controller("legacy", "default", {"spec": {"replicas": 1}})
    wait_for(lambda: len(core.list_namespaced_pod("default", label_selector="app=legacy").items) == 1, message="1 pod")
