"""kube-apiserver semantics the engine relies on, checked through the official client."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ApiException as DynamicApiException
from kubernetes.dynamic.exceptions import NotFoundError

from kubesandbox import Sandbox
from tests.conftest import available, configmap, deployment, fast_timing, wait_for

SMP = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"


def status_of(err: pytest.ExceptionInfo) -> tuple[int, str]:
    import json

    body = json.loads(err.value.body)
    return body["code"], body["reason"]


def test_creating_in_a_missing_namespace_is_404(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(NotFoundError) as err:
        cms.create(body=configmap("x", namespace="nowhere"), namespace="nowhere")
    assert status_of(err) == (404, "NotFound")
    assert 'namespaces \\"nowhere\\" not found' in str(err.value.body) or 'namespaces "nowhere" not found' in str(
        err.value.body
    )


def test_creating_twice_is_409_already_exists(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body=configmap("x"), namespace="default")
    with pytest.raises(DynamicApiException) as err:
        cms.create(body=configmap("x"), namespace="default")
    assert status_of(err) == (409, "AlreadyExists")


@pytest.mark.parametrize("name", ["Upper", "under_score", "-leading", "a" * 254])
def test_invalid_names_are_422_invalid(dyn, name):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(DynamicApiException) as err:
        cms.create(body=configmap(name), namespace="default")
    code, reason = status_of(err)
    assert (code, reason) == (422, "Invalid")
    assert "metadata.name" in str(err.value.body)


def test_a_deployment_whose_selector_misses_its_template_is_invalid(dyn):
    body = deployment("web")
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(DynamicApiException) as err:
        dyn.resources.get(api_version="apps/v1", kind="Deployment").create(body=body, namespace="default")
    assert status_of(err) == (422, "Invalid")
    assert "selector" in str(err.value.body)


def test_merge_patch_sets_and_removes_keys(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body=configmap("cfg", {"a": "1", "b": "2"}), namespace="default")
    patched = cms.patch(name="cfg", namespace="default", body={"data": {"a": None, "c": "3"}}, content_type=MERGE)
    assert patched.data.to_dict() == {"b": "2", "c": "3"}


def test_json_patch_applies_operations_in_order_and_fails_atomically(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body=configmap("cfg", {"a": "1"}), namespace="default")
    patched = cms.patch(
        name="cfg",
        namespace="default",
        content_type=JSON_PATCH,
        body=[
            {"op": "add", "path": "/data/b", "value": "2"},
            {"op": "replace", "path": "/data/a", "value": "10"},
            {"op": "test", "path": "/data/b", "value": "2"},
        ],
    )
    assert patched.data.to_dict() == {"a": "10", "b": "2"}
    with pytest.raises(DynamicApiException) as err:
        cms.patch(
            name="cfg",
            namespace="default",
            content_type=JSON_PATCH,
            body=[
                {"op": "add", "path": "/data/c", "value": "3"},
                {"op": "test", "path": "/data/a", "value": "wrong"},
            ],
        )
    assert status_of(err)[0] == 422
    assert cms.get(name="cfg", namespace="default").data.to_dict() == {"a": "10", "b": "2"}


def test_strategic_merge_patch_merges_keyed_lists_by_their_merge_keys(dyn):
    deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    body = deployment("web")
    body["spec"]["template"]["spec"]["containers"] = [
        {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 8080}]},
        {"name": "sidecar", "image": "proxy:1"},
    ]
    deps.create(body=body, namespace="default")
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "web:2",
                            "env": [{"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 9090}],
                        },
                    ]
                }
            }
        }
    }
    patched = deps.patch(name="web", namespace="default", body=patch, content_type=SMP).to_dict()
    containers = {c["name"]: c for c in patched["spec"]["template"]["spec"]["containers"]}
    assert set(containers) == {"web", "sidecar"}
    assert containers["web"]["image"] == "web:2"
    assert [e["name"] for e in containers["web"]["env"]] == ["A", "B"]
    assert [p["containerPort"] for p in containers["web"]["ports"]] == [8080, 9090]

    delete = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    patched = deps.patch(name="web", namespace="default", body=delete, content_type=SMP).to_dict()
    assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == ["web"]


def test_generation_moves_with_spec_changes_only(dyn):
    deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    created = deps.create(body=deployment("web"), namespace="default")
    assert created.metadata.generation == 1
    labelled = deps.patch(
        name="web", namespace="default", body={"metadata": {"labels": {"team": "x"}}}, content_type=MERGE
    )
    assert labelled.metadata.generation == 1
    scaled = deps.patch(name="web", namespace="default", body={"spec": {"replicas": 4}}, content_type=MERGE)
    assert scaled.metadata.generation == 2
    assert int(scaled.metadata.resourceVersion) > int(labelled.metadata.resourceVersion)
    assert created.metadata.uid == scaled.metadata.uid and scaled.metadata.creationTimestamp


def test_a_write_that_changes_nothing_does_not_bump_the_resource_version(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    first = cms.server_side_apply(body=configmap("cfg", {"a": "1"}), namespace="default", field_manager="gitopsctl")
    again = cms.server_side_apply(body=configmap("cfg", {"a": "1"}), namespace="default", field_manager="gitopsctl")
    assert again.metadata.resourceVersion == first.metadata.resourceVersion


def test_status_subresource_separates_spec_and_status(api_client, dyn):
    deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deps.create(body=deployment("web", replicas=1), namespace="default")
    apps = k8s.AppsV1Api(api_client)
    wait_for(lambda: available(apps, "web") == 1, message="availability")

    tampered = deps.patch(
        name="web",
        namespace="default",
        content_type=MERGE,
        body={"spec": {"replicas": 3}, "status": {"availableReplicas": 99}},
    ).to_dict()
    assert tampered["spec"]["replicas"] == 3
    assert tampered["status"]["availableReplicas"] != 99

    status_api = deps.subresources["status"]
    changed = status_api.patch(
        name="web",
        namespace="default",
        content_type=MERGE,
        body={"spec": {"replicas": 7}, "status": {"observedGeneration": 42}},
    ).to_dict()
    assert changed["status"]["observedGeneration"] == 42
    assert changed["spec"]["replicas"] == 3


def test_finalizers_hold_deletion_until_removed(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = configmap("held")
    body["metadata"]["finalizers"] = ["gitopsctl.io/cleanup"]
    cms.create(body=body, namespace="default")
    cms.delete(name="held", namespace="default")
    pending = cms.get(name="held", namespace="default")
    assert pending.metadata.deletionTimestamp
    cms.patch(name="held", namespace="default", body={"metadata": {"finalizers": None}}, content_type=MERGE)
    with pytest.raises(NotFoundError):
        cms.get(name="held", namespace="default")


def test_deleting_a_namespace_deletes_what_is_in_it(dyn, core):
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="doomed")))
    dyn.resources.get(api_version="v1", kind="ConfigMap").create(
        body=configmap("c", namespace="doomed"), namespace="doomed"
    )
    dyn.resources.get(api_version="apps/v1", kind="Deployment").create(
        body=deployment("d", namespace="doomed"), namespace="doomed"
    )
    core.delete_namespace("doomed")

    def gone() -> bool:
        try:
            core.read_namespace("doomed")
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, message="the namespace to be deleted")
    assert not core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=doomed").items
    assert not core.list_pod_for_all_namespaces(field_selector="metadata.namespace=doomed").items


def test_deleting_a_deployment_cascades_to_its_replicasets_and_pods(dyn, core):
    deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deps.create(body=deployment("web", replicas=2), namespace="default")
    wait_for(lambda: len(core.list_namespaced_pod("default", label_selector="app=web").items) == 2, message="two pods")
    deps.delete(name="web", namespace="default")
    wait_for(lambda: not core.list_namespaced_pod("default", label_selector="app=web").items, message="pods to go")
    assert not dyn.resources.get(api_version="apps/v1", kind="ReplicaSet").get(namespace="default").items


def test_creating_a_crd_serves_its_kind(dyn):
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(
        body={
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "virtualservices.networking.istio.io"},
            "spec": {
                "group": "networking.istio.io",
                "scope": "Namespaced",
                "names": {
                    "plural": "virtualservices",
                    "singular": "virtualservice",
                    "kind": "VirtualService",
                    "shortNames": ["vs"],
                },
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    }
                ],
            },
        }
    )
    vs = dyn.resources.get(api_version="networking.istio.io/v1", kind="VirtualService")
    body = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "trade"},
        "spec": {
            "hosts": ["trade"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "trade", "subset": "stable"}, "weight": 90},
                        {"destination": {"host": "trade", "subset": "canary"}, "weight": 10},
                    ]
                }
            ],
        },
    }
    vs.server_side_apply(body=body, namespace="default", field_manager="gitopsctl")
    weights = [r["weight"] for r in vs.get(name="trade", namespace="default").to_dict()["spec"]["http"][0]["route"]]
    assert weights == [90, 10]
    assert vs.get(name="trade", namespace="default").metadata.generation == 1

    crds.delete(name="virtualservices.networking.istio.io")
    dyn.resources.invalidate_cache()
    with pytest.raises(Exception):  # noqa: B017 - the kind is no longer served at all
        dyn.resources.get(api_version="networking.istio.io/v1", kind="VirtualService").get(namespace="default")


def test_objects_persist_across_a_restart_and_old_watches_get_410(tmp_path):
    state = tmp_path / "cluster"
    with Sandbox.start(state, timing=fast_timing()) as first:
        core = k8s.CoreV1Api(kube_config.new_client_from_config(str(first.kubeconfig)))
        core.create_namespaced_config_map(
            "default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="kept"), data={"k": "v"})
        )
        old_rv = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespaced_config_map("default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="later")))
    with Sandbox.start(state, timing=fast_timing()) as second:
        core = k8s.CoreV1Api(kube_config.new_client_from_config(str(second.kubeconfig)))
        assert core.read_namespaced_config_map("kept", "default").data == {"k": "v"}
        assert int(core.list_namespaced_config_map("default").metadata.resource_version) > int(old_rv)
        with pytest.raises(ApiException) as err:
            for _ in watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=old_rv, timeout_seconds=2
            ):
                pass
        assert err.value.status == 410


def test_a_watch_with_a_label_selector_sees_objects_enter_and_leave_it(core):
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    seen: list[tuple[str, str]] = []

    def consume() -> None:
        w = watch.Watch()
        for event in w.stream(
            core.list_namespaced_config_map,
            "default",
            label_selector="app=trade",
            resource_version=rv,
            timeout_seconds=5,
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 2:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    core.create_namespaced_config_map("default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="other")))
    core.create_namespaced_config_map(
        "default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="t", labels={"app": "trade"}))
    )
    core.patch_namespaced_config_map("t", "default", {"metadata": {"labels": {"app": "pricing"}}})
    thread.join(timeout=10)
    assert seen == [("ADDED", "t"), ("DELETED", "t")]


def test_scale_subresource_changes_replicas(api_client, dyn):
    dyn.resources.get(api_version="apps/v1", kind="Deployment").create(
        body=deployment("web", replicas=1), namespace="default"
    )
    apps = k8s.AppsV1Api(api_client)
    scale = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 4


def test_discovery_lists_status_and_scale_subresources(dyn):
    assert set(dyn.resources.get(api_version="apps/v1", kind="Deployment").subresources) == {"status", "scale"}
    assert set(dyn.resources.get(api_version="v1", kind="ConfigMap").subresources) == set()


def test_rbac_objects_are_stored_and_validated(dyn):
    roles = dyn.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="Role")
    ok = {
        "metadata": {"name": "reader", "namespace": "default"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    assert roles.create(body=ok, namespace="default").metadata.name == "reader"
    bad = {
        "metadata": {"name": "broken", "namespace": "default"},
        "rules": [{"apiGroups": [""], "resources": ["pods"]}],
    }
    with pytest.raises(ApiException) as err:
        roles.create(body=bad, namespace="default")
    assert err.value.status == 422 and "verbs must contain at least one value" in err.value.body
    bindings = dyn.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="RoleBinding")
    body = {
        "metadata": {"name": "readers", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
    }
    bindings.create(body=body, namespace="default")
    body["roleRef"]["name"] = "writer"
    with pytest.raises(ApiException) as err:
        bindings.patch(body=body, namespace="default", name="readers", content_type="application/merge-patch+json")
    assert err.value.status == 422 and "cannot change roleRef" in err.value.body
