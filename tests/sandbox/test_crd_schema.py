"""Custom resources against their CRD's schema over HTTP: refusals, pruning and warnings as kube-apiserver's."""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
from urllib.parse import urlsplit

import pytest

from kubesandbox import crds

VS_PATH = "/apis/networking.istio.io/v1/namespaces/default/virtualservices"
ROUTE_PATH = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def call(sandbox):
    """One raw request as the admin: (status, body, Warning header), so headers can be checked too."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    host = urlsplit(sandbox.server)

    def request(method: str, path: str, body=None, content_type: str = "application/json"):
        connection = http.client.HTTPSConnection(host.hostname, host.port, context=context, timeout=10)
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {sandbox.token}", "Content-Type": content_type}
        connection.request(method, path, body=data, headers=headers)
        answer = connection.getresponse()
        result = (answer.status, json.loads(answer.read() or b"null"), answer.getheader("Warning"))
        connection.close()
        return result

    for name in (crds.VIRTUAL_SERVICES, crds.DESTINATION_RULES, crds.HTTP_ROUTES):
        assert request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crds.load(name))[0] == 201
    return request


def virtual_service(weight, **spec_extra) -> dict:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "web"},
        "spec": {
            "hosts": ["web"],
            "http": [{"route": [{"destination": {"host": "web", "port": {"number": 80}}, "weight": weight}]}],
            **spec_extra,
        },
    }


def http_route(*backend_refs: dict) -> dict:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{"backendRefs": list(backend_refs)}]},
    }


def test_a_virtualservice_weight_given_as_a_string_is_refused_422(call):
    code, body, _ = call("POST", VS_PATH, virtual_service("50"))
    assert code == 422
    assert body["reason"] == "Invalid"
    field = "spec.http[0].route[0].weight"
    assert body["message"] == (
        f'VirtualService.networking.istio.io "web" is invalid: {field}: Invalid value: "string": '
        f'{field} in body must be of type integer: "string"'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": f'Invalid value: "string": {field} in body must be of type integer: "string"',
            "field": field,
        }
    ]
    assert call("GET", f"{VS_PATH}/web")[0] == 404


def test_an_httproute_backend_ref_needs_a_name_and_a_weight_of_at_least_0(call):
    code, body, _ = call("POST", ROUTE_PATH, http_route({"name": "web", "port": 80, "weight": -1}, {"port": 80}))
    assert code == 422
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: -1: spec.rules[0].backendRefs[0].weight in body should be greater than or equal to 0",
            "field": "spec.rules[0].backendRefs[0].weight",
        },
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.rules[0].backendRefs[1].name"},
    ]
    code, body, _ = call("POST", ROUTE_PATH, http_route({"name": "web", "port": 80, "weight": 1000001}))
    assert (code, body["details"]["causes"][0]["message"]) == (
        422,
        "Invalid value: 1000001: spec.rules[0].backendRefs[0].weight in body should be less than or equal to 1000000",
    )
    code, _, _ = call("POST", ROUTE_PATH, http_route({"name": "web", "port": 80, "weight": 90}))
    assert code == 201


def test_unknown_fields_warn_by_default_fail_when_strict_and_go_quietly_when_ignored(call):
    code, body, warning = call("POST", VS_PATH, virtual_service(100, canary=True))
    assert code == 201
    assert warning == '299 - "unknown field \\"spec.canary\\""'
    assert "canary" not in body["spec"]
    assert "canary" not in call("GET", f"{VS_PATH}/web")[1]["spec"]

    code, body, _ = call("PUT", f"{VS_PATH}/web?fieldValidation=Strict", {**body, "spec": {**body["spec"], "x": 1}})
    assert (code, body["reason"]) == (400, "BadRequest")
    assert body["message"] == (
        'VirtualService in version "v1" cannot be handled as a VirtualService: '
        'strict decoding error: unknown field "spec.x"'
    )

    code, body, warning = call("PATCH", f"{VS_PATH}/web?fieldValidation=Ignore", {"spec": {"x": 1}}, MERGE)
    assert (code, warning) == (200, None)
    assert "x" not in body["spec"]


def test_a_strict_patch_names_the_patched_object_as_kube_apiserver_does(call):
    assert call("POST", VS_PATH, virtual_service(100))[0] == 201
    code, body, _ = call("PATCH", f"{VS_PATH}/web?fieldValidation=Strict", {"spec": {"x": 1}}, MERGE)
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"].startswith(' "" is invalid: patch: Invalid value: "{')
    assert body["message"].endswith('": strict decoding error: unknown field "spec.x"')
    assert body["details"]["causes"][0]["field"] == "patch"


def test_a_patch_is_validated_on_its_result(call):
    assert call("POST", ROUTE_PATH, http_route({"name": "web", "port": 80, "weight": 100}))[0] == 201
    patch = {"spec": {"rules": [{"backendRefs": [{"name": "web", "port": 80, "weight": "all"}]}]}}
    code, body, _ = call("PATCH", f"{ROUTE_PATH}/web", patch, MERGE)
    assert code == 422
    assert body["details"]["causes"][0]["field"] == "spec.rules[0].backendRefs[0].weight"
    assert call("GET", f"{ROUTE_PATH}/web")[1]["spec"]["rules"][0]["backendRefs"][0]["weight"] == 100


def test_server_side_apply_of_an_undeclared_field_fails_as_structured_merge_diff_does(call):
    applied = virtual_service(100, canary=True)
    applied["metadata"]["namespace"] = "default"
    code, body, _ = call("PATCH", f"{VS_PATH}/web?fieldManager=test", json.dumps(applied).encode(), APPLY)
    assert code == 500
    assert body["message"] == (
        "failed to create typed patch object (default/web; networking.istio.io/v1, Kind=VirtualService): "
        ".spec.canary: field not declared in schema"
    )
    code, body, _ = call("PATCH", f"{VS_PATH}/web?fieldManager=test", json.dumps(virtual_service("x")).encode(), APPLY)
    assert code == 422


def test_the_status_subresource_is_checked_against_the_status_schema(call):
    assert call("POST", ROUTE_PATH, http_route({"name": "web", "port": 80}))[0] == 201
    route = call("GET", f"{ROUTE_PATH}/web")[1]
    code, body, _ = call("PUT", f"{ROUTE_PATH}/web/status", {**route, "status": {"parents": [{"parentRef": {}}]}})
    assert code == 422
    assert [c["field"] for c in body["details"]["causes"]] == [
        "status.parents[0].parentRef.name",
        "status.parents[0].conditions",
        "status.parents[0].controllerName",
    ]


def test_an_unknown_field_validation_directive_is_refused(call):
    code, body, _ = call("POST", f"{VS_PATH}?fieldValidation=Loud", virtual_service(100))
    assert code == 422
    assert body["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loud": '
        'supported values: "", "Ignore", "Strict", "Warn"'
    )


def test_a_crd_without_a_schema_stores_anything(call):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    assert call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"any": ["thing"]}}
    code, body, warning = call("POST", "/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict", widget)
    assert (code, body["spec"], warning) == (201, {"any": ["thing"]}, None)


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_apply_shows_the_refusal_a_real_cluster_gives(sandbox, call, tmp_path):
    manifest = tmp_path / "vs.json"
    manifest.write_text(json.dumps({**virtual_service("50"), "metadata": {"name": "web", "namespace": "default"}}))
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(sandbox.kubeconfig), "apply", "-f", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert 'The VirtualService "web" is invalid: spec.http[0].route[0].weight: Invalid value: "string"' in done.stderr
