"""Fault injection: the sandbox answers as a struggling kube-apiserver does, to the official client and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from kubesandbox.command import admin_call
from kubesandbox.errors import ApiError


def _configmap(core: k8s.CoreV1Api, name: str = "settings") -> None:
    body = {"metadata": {"name": name}, "data": {"mode": "fast"}}
    core.create_namespaced_config_map("default", body)


def test_a_status_fault_answers_as_kube_apiserver_for_its_count_then_requests_go_through(sandbox, core):
    _configmap(core)
    rule = sandbox.faults.add(verbs=["get"], resource="configmaps", name="settings", status=503, count=2)
    for _ in range(2):
        with pytest.raises(ApiException) as refused:
            core.read_namespaced_config_map("settings", "default")
        assert refused.value.status == 503
        assert json.loads(refused.value.body)["reason"] == "ServiceUnavailable"
    assert core.read_namespaced_config_map("settings", "default").data == {"mode": "fast"}
    assert rule.fired == 2 and sandbox.faults.rules() == []  # ended after its count
    core.list_namespaced_config_map("default")  # a list is another verb: never met the rule


def test_429_carries_retry_after_and_a_conflict_is_a_409_status(sandbox, core):
    sandbox.faults.add(verbs=["create"], resource="configmaps", status=429, retry_after=3, count=1)
    with pytest.raises(ApiException) as limited:
        _configmap(core)
    assert limited.value.status == 429 and limited.value.headers["Retry-After"] == "3"
    sandbox.faults.add(verbs=["create"], resource="configmaps", namespace="default", status=409, count=1)
    with pytest.raises(ApiException) as conflict:
        _configmap(core)
    assert conflict.value.status == 409 and json.loads(conflict.value.body)["reason"] == "Conflict"
    _configmap(core)  # both ended: the create goes through, nothing was created before


def test_a_dropped_connection_and_latency(sandbox, api_client):
    core = k8s.CoreV1Api(api_client)
    dropped = sandbox.faults.add(verbs=["list"], resource="namespaces", drop=True, count=1)
    core.list_namespace()  # urllib3 retries a dropped GET: the list still answers
    assert dropped.fired == 1
    sandbox.faults.add(verbs=["list"], resource="namespaces", drop=True, seconds=30)
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.list_namespace(_request_timeout=5)
    sandbox.faults.remove()
    sandbox.faults.add(verbs=["list"], resource="namespaces", latency=0.5, count=1)
    started = time.monotonic()
    core.list_namespace()
    assert time.monotonic() - started >= 0.5


def test_only_matching_users_meet_a_rule_and_only_the_admin_may_set_rules(sandbox, tmp_path):
    alice = k8s.CoreV1Api(kube_config.new_client_from_config(str(sandbox.add_user("alice"))))
    admin = k8s.CoreV1Api(kube_config.new_client_from_config(str(sandbox.kubeconfig)))
    k8s.RbacAuthorizationV1Api(admin.api_client).create_cluster_role_binding(
        {
            "metadata": {"name": "alice-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}],
        }
    )
    alice.list_namespace()  # allowed: what she meets next is the fault, not RBAC
    sandbox.faults.add(resource="namespaces", user="alice", status=500, seconds=30)
    with pytest.raises(ApiException) as failed:
        alice.list_namespace()
    assert failed.value.status == 500
    admin.list_namespace()
    status, answer = admin_call(alice.api_client, "GET", "/sandbox/faults")
    assert status == 403 and answer["message"] == "only the sandbox's admin may use its /sandbox endpoints"
    status, answer = admin_call(admin.api_client, "GET", "/sandbox/faults")
    assert status == 200 and answer["items"][0]["user"] == "alice"


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"verbs": ["frobnicate"]}, "unknown verb frobnicate"),
        ({"status": 418}, "status 418 is not one the sandbox injects"),
        ({"status": 503, "drop": True}, "either answers a status or drops the connection"),
        ({"latency": 1e6}, "latency must be between 0 and 120"),
        ({"count": 0}, "count must be at least 1"),
        ({"resource": ""}, "patterns of 1 to 253 characters"),
        ({"sleep": 1}, "unknown field 'sleep'"),
    ],
)
def test_a_bad_rule_is_refused_with_one_sentence_and_nothing_is_added(sandbox, rule, says):
    with pytest.raises(ApiError, match=says):
        sandbox.faults.add_json(rule)
    assert sandbox.faults.rules() == []


def test_the_cli_adds_lists_and_clears_rules_of_a_running_sandbox(sandbox, core):
    cli = [sys.executable, "-m", "gitopsctl", "sandbox", "fault"]
    where = ["--kubeconfig", str(sandbox.kubeconfig)]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*cli, *args, *where], capture_output=True, text=True, timeout=60)

    added = run("add", "--verb", "get", "--resource", "configmaps", "--status", "504", "--seconds", "60")
    assert added.returncode == 0 and added.stdout.strip() == "fault f1 added", added.stderr
    listed = run("list")
    rule = json.loads(listed.stdout.splitlines()[0])
    assert rule["status"] == 504 and rule["verbs"] == ["get"] and rule["resource"] == "configmaps"
    _configmap(core)
    with pytest.raises(ApiException) as timed_out:
        core.read_namespaced_config_map("settings", "default")
    assert timed_out.value.status == 504
    assert run("clear").stdout.strip() == "1 fault(s) removed"
    assert core.read_namespaced_config_map("settings", "default").data == {"mode": "fast"}
    bad = run("add", "--latency", "1000")
    assert bad.returncode == 2 and "the sandbox refused: latency must be between 0 and 120 seconds" in bad.stderr
