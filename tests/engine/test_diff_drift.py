"""Diff and drift: only real differences, who made them, and secrets never shown."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from demo.seed import deployment_yaml
from gitopsctl.sync.diff import compare, normalize_desired


def _pod_resources(obj: dict, cpu, memory) -> dict:
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu, "memory": memory}}
    return obj


def test_quantities_compare_by_value():
    base = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"template": {"spec": {"containers": [{"name": "x", "image": "i"}]}}},
    }
    import copy

    desired = _pod_resources(copy.deepcopy(base), "500m", "1Gi")
    assert compare(desired, _pod_resources(copy.deepcopy(base), "0.5", "1073741824")) == []
    assert compare(desired, _pod_resources(copy.deepcopy(base), 0.5, "1024Mi")) == []
    changes = compare(desired, _pod_resources(copy.deepcopy(base), "600m", "1Gi"))
    assert [(c.path, c.desired, c.live) for c in changes] == [
        ("spec.template.spec.containers[name=x].resources.requests.cpu", "500m", "600m")
    ]


def test_data_strings_are_not_quantities():
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"ratio": "0.5"}}
    assert compare(desired, {**desired, "data": {"ratio": "500m"}})


def test_server_set_fields_and_defaults_are_not_differences():
    desired = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "labels": {"a": "b"}},
        "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]},
    }
    live = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "labels": {"a": "b"}, "uid": "u", "resourceVersion": "9", "managedFields": []},
        "spec": {
            "selector": {"a": "b"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
            "clusterIP": "10.96.0.5",
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    }
    assert compare(desired, live) == []


def test_helms_bookkeeping_labels_and_annotations_are_not_differences():
    def deployment(chart: str, managed_by: str, release: str, replicas: int) -> dict:
        labels = {"app": "web", "helm.sh/chart": chart, "app.kubernetes.io/managed-by": managed_by}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels, "annotations": {"meta.helm.sh/release-name": release}},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": dict(labels)}}},
        }

    def on_the_object(manifest: dict) -> dict:  # the pod template's labels as Git has them
        manifest["spec"]["template"]["metadata"]["labels"] = {"app": "web", "helm.sh/chart": "web-0.2.0"}
        return manifest

    desired = on_the_object(deployment("web-0.2.0", "Helm", "web", 3))
    assert compare(desired, on_the_object(deployment("web-0.1.0", "Helm", "old", 3))) == []
    changes = compare(desired, on_the_object(deployment("web-0.1.0", "Helm", "web", 5)))
    assert [c.path for c in changes] == ["spec.replicas"], "only what runs differently"
    changes = compare(deployment("web-0.2.0", "Helm", "web", 3), deployment("web-0.1.0", "Helm", "web", 3))
    assert [c.path for c in changes] == ["spec.template.metadata.labels.helm.sh/chart"], (
        "a pod template's labels are what Services select pods by: always compared"
    )
    gitopsctl, kubectl = (on_the_object(deployment("web-0.2.0", by, "web", 3)) for by in ("gitopsctl", "kubectl"))
    changes = compare(gitopsctl, kubectl)
    assert [c.path for c in changes] == ["metadata.labels.app.kubernetes.io/managed-by"], (
        "managed-by is Helm's bookkeeping only when it says Helm"
    )


def test_secret_string_data_compares_as_stored_data():
    desired = normalize_desired(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    )
    assert (
        compare(desired, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}}) == []
    )


def test_a_hand_edit_is_drift_with_who_made_it(fleet):
    fleet.engine.sync("trade-service", "dev")
    fleet.core.patch_namespaced_config_map(
        "trade-service-config", "trading-dev", {"data": {"LOG_LEVEL": "trace"}}, field_manager="kubectl-edit"
    )
    report = fleet.engine.drift("dev", ("trade-service",))
    (item,) = report.drifted
    (resource,) = item.resources
    assert resource.as_dict() == {
        "kind": "ConfigMap",
        "namespace": "trading-dev",
        "name": "trade-service-config",
        "state": "changed",
        "fields": [{"path": "data.LOG_LEVEL", "desired": "debug", "live": "trace"}],
        "changed_by": "kubectl-edit",
    }


def test_an_extra_container_added_by_hand_is_drift_and_sync_removes_it(fleet):
    fleet.engine.sync("trade-service", "dev")
    fleet.apps.patch_namespaced_deployment(
        "trade-service",
        "trading-dev",
        {"spec": {"template": {"spec": {"containers": [{"name": "debug", "image": "busybox"}]}}}},
    )
    (item,) = fleet.engine.drift("dev", ("trade-service",)).drifted
    (resource,) = item.resources
    assert [f.path for f in resource.fields] == ["spec.template.spec.containers[name=debug]"]
    fleet.engine.sync("trade-service", "dev")
    containers = fleet.apps.read_namespaced_deployment("trade-service", "trading-dev").spec.template.spec.containers
    assert [c.name for c in containers] == ["trade-service"]
    assert not fleet.engine.drift("dev", ("trade-service",)).drifted


def test_an_object_deleted_by_hand_is_drift_one_removed_in_git_is_out_of_sync(fleet):
    fleet.engine.sync("trade-service", "dev")
    fleet.core.delete_namespaced_service("trade-service", "trading-dev")
    fleet.repo.commit({"apps/trade-service/dev/configmap.yaml": None}, "drop config")
    states = {(r.ref.kind, r.state) for r in fleet.engine.drift("dev", ("trade-service",)).drifted[0].resources}
    assert states == {("Service", "missing")}
    (row,) = fleet.engine.status("trade-service", "dev")
    assert (row.sync, row.drift, [c.title for c in row.commits]) == ("OutOfSync", "Drifted", ["drop config"])
    diff = fleet.engine.diff("trade-service", "dev")
    assert {(r.ref.kind, r.state) for r in diff.git} == {("ConfigMap", "extra")}
    assert {(r.ref.kind, r.state) for r in diff.drift} == {("Service", "missing")}
    assert {(r.ref.kind, r.state) for r in diff.resources} == {("Service", "missing"), ("ConfigMap", "extra")}


def test_a_drift_scan_lists_once_per_kind_and_namespace_never_gets_per_object(fleet):
    for app in ("trade-service", "pricing-api", "ledger-worker"):
        for env in ("dev", "staging", "prod"):
            fleet.engine.sync(app, env)
    fleet.apps.patch_namespaced_deployment("pricing-api", "trading-prod", {"spec": {"replicas": 7}})
    engine = fleet.reload()
    before, _ = fleet.sandbox.audit.after(0)
    report = engine.drift()
    _, seen = fleet.sandbox.audit.after(before)  # counted by the API server, not by the engine
    kinds = {"ConfigMap", "Deployment", "Service", "Secret"}
    namespaces = 3
    # one LIST per (kind, namespace) for the objects, plus one LIST of sync records per namespace
    assert [e["verb"] for e in seen] == ["list"] * (len(kinds) * namespaces + namespaces)
    assert report.requests == len(seen)
    assert [(d.app, d.env) for d in report.drifted] == [("pricing-api", "prod")]
    assert len(report.clean) == 8


def test_a_planted_secret_never_appears_in_any_output(fleet, caplog):
    planted = "PLANTED-s3cret-VALUE-7781"
    fleet.repo.commit(
        {
            "apps/ledger-worker/dev/secret.yaml": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: ledger-db\nstringData:\n  password: {planted}\n"
        },
        "secret",
    )
    caplog.set_level(logging.DEBUG)
    fleet.engine.sync("ledger-worker", "dev")
    fleet.core.patch_namespaced_secret("ledger-db", "trading-dev", {"stringData": {"password": planted + "-changed"}})
    outputs = [caplog.text]
    stdout: dict[str, str] = {}
    cli = [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_path)]
    for args in (
        ["diff", "ledger-worker", "dev"],
        ["diff", "ledger-worker", "dev", "-o", "json"],
        ["drift"],
        ["drift", "-o", "json"],
        ["status", "-o", "json"],
        ["history", "ledger-worker", "dev", "-o", "json"],
        ["sync", "ledger-worker", "dev", "--dry-run"],
        ["sync", "ledger-worker", "dev"],
        ["sync", "ledger-worker", "dev", "-o", "json"],
    ):
        result = subprocess.run(cli + args, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode in (0, 1), result.stderr
        outputs += [result.stdout, result.stderr]
        stdout[" ".join(args)] = result.stdout
    outputs.append(caplog.text)
    drift_json = json.loads(stdout["drift -o json"])
    ledger = next(d for d in drift_json["drifted"] if (d["app"], d["env"]) == ("ledger-worker", "dev"))
    assert ledger["resources"][0]["fields"] == [{"path": "data.password", "desired": "***", "live": "***"}]
    import base64

    encoded = [base64.b64encode(v.encode()).decode() for v in (planted, planted + "-changed")]
    for text in outputs:
        assert planted not in text
        assert all(e not in text for e in encoded)


def test_drift_reports_a_label_removed_by_hand_as_changed_not_missing(fleet):
    fleet.engine.sync("trade-service", "dev")
    fleet.core.patch_namespaced_service(
        "trade-service", "trading-dev", {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}}
    )
    (item,) = fleet.engine.drift("dev", ("trade-service",)).drifted
    (resource,) = item.resources
    assert resource.state == "changed"
    assert resource.fields[0].path == "metadata.labels.app.kubernetes.io/managed-by"


def test_status_shows_version_revision_sync_and_health(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    fleet.repo.commit(
        {
            "apps/trade-service/dev/deployment.yaml": deployment_yaml(
                "trade-service", "registry.local/trade-service:v1.5.0", 1
            )
        },
        "v1.5.0",
    )
    (row,) = fleet.engine.status("trade-service", "dev")
    assert row.as_dict() == {
        "app": "trade-service",
        "env": "dev",
        "version": "v1.4.1",
        "revision": fleet.engine.history("trade-service", "dev")[0].revision,
        "sync": "OutOfSync",
        "drift": "Clean",
        "health": "Healthy",
        "message": "",
        "pending_commits": [c.as_dict() for c in row.commits],
        "error": None,
    }
    assert [(c.title, c.ours) for c in row.commits] == [("v1.5.0", False)]
