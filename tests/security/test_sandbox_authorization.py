"""The sandbox's RBAC holds against the forms an attacker tries: what is authorized is what the handler does.

Each case was found by an attack review of the sandbox's authorization and
fixed; each compares with what kube-apiserver answers.
"""

from __future__ import annotations

import http.client
import json
import ssl

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config

from kubesandbox import access
from tests.conftest import wait_for
from tests.security.test_sandbox_hardening import HUGE, _headers_only


def _request(sb, token: str, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
    context = ssl.create_default_context(cafile=str(sb.ca_path))
    connection = http.client.HTTPSConnection("127.0.0.1", sb.port, context=context, timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})}
    try:
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        first = raw.split(b"\n", 1)[0]  # a watch's first event, or the whole answer
        return response.status, json.loads(first) if first.startswith(b"{") else {}
    finally:
        connection.close()


@pytest.fixture
def bob(sandbox):
    """bob may watch ConfigMaps in x, get one named c, and do anything to deployments/scale and pods/status."""
    admin = kube_config.new_client_from_config(str(sandbox.kubeconfig))
    core, rbac = k8s.CoreV1Api(admin), k8s.RbacAuthorizationV1Api(admin)
    core.create_namespace({"metadata": {"name": "x"}})
    core.create_namespaced_secret("x", {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}})
    for name in ("c", "other"):
        core.create_namespaced_config_map("x", {"metadata": {"name": name}, "data": {"k": "v"}})
    rules = [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["watch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["c"]},
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["pods/status", "secrets/finalize"], "verbs": ["*"]},
    ]
    rbac.create_namespaced_role("x", {"metadata": {"name": "bob"}, "rules": rules})
    rbac.create_namespaced_role_binding(
        "x",
        {
            "metadata": {"name": "bob"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bob"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}],
        },
    )
    sandbox.add_user("bob")
    return sandbox.users.token_of("bob")


def test_delete_on_a_status_or_scale_subresource_is_405_and_deletes_nothing(sandbox, bob, dyn):
    from tests.conftest import deployment

    body = deployment("d")
    body["metadata"]["namespace"] = "x"
    dyn.resources.get(api_version="apps/v1", kind="Deployment").create(body=body, namespace="x")
    status, body = _request(sandbox, bob, "DELETE", "/apis/apps/v1/namespaces/x/deployments/d/scale")
    assert status == 405 and body["reason"] == "MethodNotAllowed"
    assert dyn.resources.get(api_version="apps/v1", kind="Deployment").get(name="d", namespace="x")


def test_finalize_exists_only_for_namespaces(sandbox, bob):
    status, body = _request(sandbox, bob, "GET", "/api/v1/namespaces/x/secrets/s/finalize")
    assert status == 404 and "hunter2" not in json.dumps(body)


@pytest.mark.parametrize(("value", "code"), [("yes", 400), ("maybe", 400), ("t", 200)])
def test_a_watch_only_user_never_gets_a_list(sandbox, bob, value, code):
    status, body = _request(sandbox, bob, "GET", f"/api/v1/namespaces/x/configmaps?watch={value}&timeoutSeconds=1")
    assert status == code and body.get("kind") != "ConfigMapList"


def test_a_collection_delete_with_dry_run_in_its_body_deletes_nothing(sandbox, bob, core):
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]}
    status, _ = _request(sandbox, sandbox.token, "DELETE", "/api/v1/namespaces/x/configmaps", options)
    assert status == 200
    assert {c.metadata.name for c in core.list_namespaced_config_map("x").items} == {"c", "other"}


def test_a_body_over_3_mib_is_413_unread_and_sandbox_endpoints_refuse_before_reading(sandbox, bob):
    status, body = _headers_only(
        sandbox,
        "POST /api/v1/namespaces/x/configmaps HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {sandbox.token}\r\nContent-Type: application/json\r\nContent-Length: {HUGE}\r\n\r\n",
    )
    assert status == "HTTP/1.1 413 Request Entity Too Large" and body["reason"] == "RequestEntityTooLarge"
    status, body = _headers_only(
        sandbox,
        "POST /sandbox/faults HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {bob}\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
    )
    assert status == "HTTP/1.1 403 Forbidden"


def test_impersonating_a_uid_or_extra_needs_its_own_grant(sandbox, bob):
    status, _ = _request(
        sandbox, sandbox.token, "GET", "/api/v1/namespaces/x/configmaps/c", headers={"Impersonate-User": "bob"}
    )
    assert status == 200  # the admin may impersonate bob
    status, body = _request(
        sandbox,
        bob,
        "GET",
        "/api/v1/namespaces/x/configmaps/c",
        headers={"Impersonate-User": "bob", "Impersonate-Uid": "1"},
    )
    assert status == 403 and 'cannot impersonate resource "users"' in body["message"]


def test_the_audit_log_cuts_a_huge_user_agent(sandbox):
    _request(sandbox, sandbox.token, "GET", "/api/v1/namespaces", headers={"User-Agent": "x" * 60_000})
    _, events = sandbox.audit.after(0)
    agent = next(e["userAgent"] for e in events if e["userAgent"].startswith("xxx"))
    assert len(agent) == 1024 + len("...TRUNCATED")


def test_a_token_dies_with_a_service_account_kept_by_a_finalizer_and_with_its_bound_pod(sandbox, core, monkeypatch):
    monkeypatch.setattr(access, "SA_DELETION_GRACE", 0.0)  # upstream waits 60 s
    core.create_namespaced_service_account(
        "default", {"metadata": {"name": "held", "finalizers": ["example.com/keep"]}}
    )
    token = core.create_namespaced_service_account_token("held", "default", {"spec": {}}).status.token
    assert _request(sandbox, token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {})[0] == 201
    core.delete_namespaced_service_account("held", "default")
    assert _request(sandbox, token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {})[0] == 401

    core.create_namespaced_pod(
        "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "p", "image": "p:1"}]}}
    )
    bound = {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}}
    token = core.create_namespaced_service_account_token("default", "default", bound).status.token
    assert _request(sandbox, token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {})[0] == 201
    core.delete_namespaced_pod("p", "default", grace_period_seconds=0)
    wait_for(lambda: not core.list_namespaced_pod("default").items, message="the pod to go")
    assert _request(sandbox, token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {})[0] == 401
    missing = {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "nobody"}}}
    with pytest.raises(k8s.ApiException) as refused:
        core.create_namespaced_service_account_token("default", "default", missing)
    assert refused.value.status == 404
