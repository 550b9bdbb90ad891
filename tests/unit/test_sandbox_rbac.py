"""The sandbox's RBAC: kube-apiserver's request attributes, rule resolution, and 403 wording."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubesandbox.errors import ApiError
from kubesandbox.rbac import (
    Attributes,
    Decision,
    allowed_to_impersonate,
    authorize,
    forbidden,
    impersonated_user,
    request_attributes,
    rules_for,
)
from kubesandbox.users import UserInfo

ALICE = UserInfo("alice", ("devs", "system:authenticated"))
ADMIN = UserInfo("sandbox-admin", ("system:masters", "system:authenticated"))
SA = UserInfo("system:serviceaccount:ci:builder", ("system:serviceaccounts", "system:serviceaccounts:ci"))
RBAC_YAML = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"


def rule(verbs, groups=("",), resources=(), names=()) -> dict:
    found = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    return {**found, "resourceNames": list(names)} if names else found


def url_rule(verbs, urls) -> dict:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def role(name, namespace, *rules) -> dict:
    return {"kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": list(rules)}


def cluster_role(name, *rules) -> dict:
    return {"kind": "ClusterRole", "metadata": {"name": name}, "rules": list(rules)}


def binding(name, namespace, ref_kind, ref_name, *subjects) -> dict:
    metadata = {"name": name, "namespace": namespace} if namespace else {"name": name}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref_name}
    return {"metadata": metadata, "roleRef": ref, "subjects": list(subjects)}


def user(name) -> dict:
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def group(name) -> dict:
    return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def service_account(name, namespace="") -> dict:
    return (
        {"kind": "ServiceAccount", "name": name, "namespace": namespace}
        if namespace
        else {"kind": "ServiceAccount", "name": name}
    )


def attrs(verb, resource="", name="", namespace="", group="", subresource="", who=ALICE) -> Attributes:
    return Attributes(who, verb, group, resource, subresource, namespace, name)


def path_attrs(verb, path, who=ALICE) -> Attributes:
    return Attributes(who, verb, path=path, resource_request=False)


def granted_by(one_rule, request: Attributes) -> bool:
    """Whether ``one_rule``, bound cluster-wide to alice, allows ``request``."""
    roles = [cluster_role("r", one_rule)]
    bindings = [binding("b", "", "ClusterRole", "r", user("alice"))]
    return authorize(request, [], roles, [], bindings).allowed


@pytest.mark.parametrize(
    ("one_rule", "request_", "expected"),
    [
        # verbs
        (rule(["get"], resources=["pods"]), attrs("get", "pods", "p", "a"), True),
        (rule(["get"], resources=["pods"]), attrs("list", "pods", namespace="a"), False),
        (rule(["*"], resources=["pods"]), attrs("deletecollection", "pods", namespace="a"), True),
        # API groups: "" is the core group only
        (rule(["get"], resources=["deployments"]), attrs("get", "deployments", "w", "a", "apps"), False),
        (rule(["get"], ["apps"], ["deployments"]), attrs("get", "deployments", "w", "a", "apps"), True),
        (rule(["get"], ["*"], ["deployments"]), attrs("get", "deployments", "w", "a", "apps"), True),
        (rule(["get"], ["apps"], ["pods"]), attrs("get", "pods", "p", "a"), False),
        # resources and subresources
        (rule(["get"], ["*"], ["*"]), attrs("get", "deployments", "w", "a", "apps", "scale"), True),
        (rule(["get"], ["apps"], ["deployments"]), attrs("get", "deployments", "w", "a", "apps", "scale"), False),
        (rule(["get"], ["apps"], ["deployments/scale"]), attrs("get", "deployments", "w", "a", "apps", "scale"), True),
        (rule(["get"], ["apps"], ["deployments/scale"]), attrs("get", "deployments", "w", "a", "apps"), False),
        (rule(["get"], ["apps"], ["*/scale"]), attrs("get", "deployments", "w", "a", "apps", "scale"), True),
        (rule(["get"], ["apps"], ["*/scale"]), attrs("get", "deployments", "w", "a", "apps", "status"), False),
        (rule(["get"], ["apps"], ["*/scale"]), attrs("get", "deployments", "w", "a", "apps"), False),
        # upstream has no "resource/*" wildcard: it is a literal subresource name
        (rule(["get"], ["apps"], ["deployments/*"]), attrs("get", "deployments", "w", "a", "apps", "scale"), False),
        # resourceNames: only requests that name the object
        (rule(["*"], resources=["configmaps"], names=["cfg"]), attrs("get", "configmaps", "cfg", "a"), True),
        (rule(["*"], resources=["configmaps"], names=["cfg"]), attrs("get", "configmaps", "other", "a"), False),
        (rule(["*"], resources=["configmaps"], names=["cfg"]), attrs("update", "configmaps", "cfg", "a"), True),
        (rule(["*"], resources=["configmaps"], names=["cfg"]), attrs("list", "configmaps", namespace="a"), False),
        (rule(["*"], resources=["configmaps"], names=["cfg"]), attrs("watch", "configmaps", namespace="a"), False),
        (rule(["*"], resources=["configmaps"], names=["cfg"]), attrs("create", "configmaps", namespace="a"), False),
        (
            rule(["*"], resources=["configmaps"], names=["cfg"]),
            attrs("deletecollection", "configmaps", namespace="a"),
            False,
        ),
        (rule(["list"], resources=["configmaps"], names=["cfg"]), attrs("list", "configmaps", "cfg", "a"), True),
        # non-resource URLs
        (url_rule(["get"], ["/version"]), path_attrs("get", "/version"), True),
        (url_rule(["get"], ["/version"]), path_attrs("get", "/version/"), False),
        (url_rule(["get"], ["/version"]), path_attrs("post", "/version"), False),
        (url_rule(["get"], ["/healthz/*"]), path_attrs("get", "/healthz/etcd"), True),
        (url_rule(["get"], ["/healthz/*"]), path_attrs("get", "/healthz"), False),
        (url_rule(["get"], ["/healthz*"]), path_attrs("get", "/healthz"), True),
        (url_rule(["*"], ["*"]), path_attrs("delete", "/anything/at/all"), True),
        (url_rule(["get"], ["*"]), attrs("get", "pods", "p", "a"), False),
        (rule(["*"], ["*"], ["*"]), path_attrs("get", "/version"), False),
    ],
)
def test_rule_matching(one_rule, request_, expected):
    assert granted_by(one_rule, request_) is expected


READ_PODS = rule(["get", "list"], resources=["pods"])


@pytest.mark.parametrize(
    ("objects", "request_", "expected"),
    [
        # a ClusterRoleBinding grants in every namespace and at the cluster scope
        (
            {"cr": [cluster_role("read", READ_PODS)], "crb": [binding("b", "", "ClusterRole", "read", user("alice"))]},
            attrs("list", "pods", namespace="x"),
            True,
        ),
        (
            {"cr": [cluster_role("read", READ_PODS)], "crb": [binding("b", "", "ClusterRole", "read", user("alice"))]},
            attrs("list", "pods"),
            True,
        ),
        # a RoleBinding to a ClusterRole grants in its namespace only
        (
            {"cr": [cluster_role("read", READ_PODS)], "rb": [binding("b", "a", "ClusterRole", "read", user("alice"))]},
            attrs("list", "pods", namespace="a"),
            True,
        ),
        (
            {"cr": [cluster_role("read", READ_PODS)], "rb": [binding("b", "a", "ClusterRole", "read", user("alice"))]},
            attrs("list", "pods", namespace="b"),
            False,
        ),
        (
            {"cr": [cluster_role("read", READ_PODS)], "rb": [binding("b", "a", "ClusterRole", "read", user("alice"))]},
            attrs("list", "pods"),
            False,
        ),
        # a RoleBinding's Role is the one in the binding's namespace
        (
            {"r": [role("read", "a", READ_PODS)], "rb": [binding("b", "a", "Role", "read", user("alice"))]},
            attrs("get", "pods", "p", "a"),
            True,
        ),
        (
            {"r": [role("read", "other", READ_PODS)], "rb": [binding("b", "a", "Role", "read", user("alice"))]},
            attrs("get", "pods", "p", "a"),
            False,
        ),
        # RoleBindings in a namespace decide requests for that namespace object itself
        (
            {
                "cr": [cluster_role("ns", rule(["get"], resources=["namespaces"]))],
                "rb": [binding("b", "a", "ClusterRole", "ns", user("alice"))],
            },
            attrs("get", "namespaces", "a", "a"),
            True,
        ),
        # subjects: users by name, groups by membership
        (
            {"cr": [cluster_role("read", READ_PODS)], "crb": [binding("b", "", "ClusterRole", "read", user("bob"))]},
            attrs("list", "pods", namespace="a"),
            False,
        ),
        (
            {"cr": [cluster_role("read", READ_PODS)], "crb": [binding("b", "", "ClusterRole", "read", group("devs"))]},
            attrs("list", "pods", namespace="a"),
            True,
        ),
        (
            {"cr": [cluster_role("read", READ_PODS)], "crb": [binding("b", "", "ClusterRole", "read", group("ops"))]},
            attrs("list", "pods", namespace="a"),
            False,
        ),
        # ServiceAccounts: by their system:serviceaccount:<ns>:<name> username
        (
            {
                "cr": [cluster_role("read", READ_PODS)],
                "crb": [binding("b", "", "ClusterRole", "read", service_account("builder", "ci"))],
            },
            attrs("list", "pods", namespace="a", who=SA),
            True,
        ),
        (
            {
                "cr": [cluster_role("read", READ_PODS)],
                "crb": [binding("b", "", "ClusterRole", "read", service_account("builder", "other"))],
            },
            attrs("list", "pods", namespace="a", who=SA),
            False,
        ),
        (
            {
                "cr": [cluster_role("read", READ_PODS)],
                "crb": [binding("b", "", "ClusterRole", "read", user("builder"))],
            },
            attrs("list", "pods", namespace="a", who=SA),
            False,
        ),
        (
            {
                "cr": [cluster_role("read", READ_PODS)],
                "crb": [binding("b", "", "ClusterRole", "read", service_account("builder", "ci"))],
            },
            attrs("list", "pods", namespace="a", who=UserInfo("builder", ())),
            False,
        ),
        # a RoleBinding's ServiceAccount without namespace is in the binding's namespace
        (
            {
                "cr": [cluster_role("read", READ_PODS)],
                "rb": [binding("b", "ci", "ClusterRole", "read", service_account("builder"))],
            },
            attrs("list", "pods", namespace="ci", who=SA),
            True,
        ),
        (
            {
                "cr": [cluster_role("read", READ_PODS)],
                "rb": [binding("b", "a", "ClusterRole", "read", service_account("builder"))],
            },
            attrs("list", "pods", namespace="a", who=SA),
            False,
        ),
        # a ClusterRoleBinding's ServiceAccount without namespace matches nobody
        (
            {
                "cr": [cluster_role("read", READ_PODS)],
                "crb": [binding("b", "", "ClusterRole", "read", service_account("builder"))],
            },
            attrs("list", "pods", namespace="ci", who=SA),
            False,
        ),
        # system:masters needs no binding at all
        ({}, attrs("delete", "namespaces", "kube-system", "kube-system", who=ADMIN), True),
        ({}, path_attrs("get", "/version", who=ADMIN), True),
        # with nothing bound, nothing is allowed
        ({}, path_attrs("get", "/version"), False),
        # a binding whose role is missing is skipped; others still grant
        (
            {
                "cr": [cluster_role("read", READ_PODS)],
                "crb": [
                    binding("gone", "", "ClusterRole", "missing", user("alice")),
                    binding("b", "", "ClusterRole", "read", user("alice")),
                ],
            },
            attrs("list", "pods", namespace="a"),
            True,
        ),
        ({"rb": [binding("gone", "a", "Role", "missing", user("alice"))]}, attrs("list", "pods", namespace="a"), False),
    ],
)
def test_binding_resolution(objects, request_, expected):
    decision = authorize(
        request_, objects.get("r", []), objects.get("cr", []), objects.get("rb", []), objects.get("crb", [])
    )
    assert decision.allowed is expected


@pytest.mark.parametrize(
    ("objects", "request_", "reason"),
    [
        (
            {
                "cr": [cluster_role("y", READ_PODS)],
                "crb": [binding("x", "", "ClusterRole", "y", group("nobody"), user("alice"))],
            },
            attrs("list", "pods", namespace="a"),
            'RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "alice"',
        ),
        (
            {"cr": [cluster_role("y", READ_PODS)], "crb": [binding("x", "", "ClusterRole", "y", group("devs"))]},
            attrs("list", "pods"),
            'RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to Group "devs"',
        ),
        (
            {"r": [role("y", "ci", READ_PODS)], "rb": [binding("x", "ci", "Role", "y", service_account("builder"))]},
            attrs("get", "pods", "p", "ci", who=SA),
            'RBAC: allowed by RoleBinding "x/ci" of Role "y" to ServiceAccount "builder/ci"',
        ),
        ({}, attrs("get", "pods", "p", "ci", who=ADMIN), ""),
        ({}, attrs("get", "pods", "p", "ci"), ""),
        (
            {"crb": [binding("x", "", "ClusterRole", "gone", user("alice"))]},
            attrs("get", "pods", "p", "ci"),
            'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found',
        ),
        (
            {
                "rb": [
                    binding("x", "ci", "Role", "gone", user("alice")),
                    binding("z", "ci", "Role", "gone", user("alice")),
                ]
            },
            attrs("get", "pods", "p", "ci"),
            'RBAC: role.rbac.authorization.k8s.io "gone" not found',
        ),
        (
            {
                "crb": [binding("x", "", "ClusterRole", "gone", user("alice"))],
                "rb": [binding("y", "ci", "Role", "lost", user("alice"))],
            },
            attrs("get", "pods", "p", "ci"),
            'RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, role.rbac.authorization.k8s.io "lost" not found]',
        ),
        (
            {"crb": [binding("x", "", "Nonsense", "n", user("alice"))]},
            attrs("get", "pods", "p", "ci"),
            'RBAC: unsupported role reference kind: "Nonsense"',
        ),
        # bindings for other subjects report nothing
        ({"crb": [binding("x", "", "ClusterRole", "gone", user("bob"))]}, attrs("get", "pods", "p", "ci"), ""),
    ],
)
def test_decision_reasons(objects, request_, reason):
    decision = authorize(
        request_, objects.get("r", []), objects.get("cr", []), objects.get("rb", []), objects.get("crb", [])
    )
    assert decision.reason == reason


@pytest.mark.parametrize(
    ("request_", "reason", "message", "details"),
    [
        (
            attrs("get", "deployments", "web", "default", "apps"),
            "",
            'deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments" in API group "apps" '
            'in the namespace "default"',
            {"name": "web", "group": "apps", "kind": "deployments"},
        ),
        (
            attrs("list", "deployments", namespace="default", group="apps"),
            "",
            'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" '
            'in the namespace "default"',
            {"group": "apps", "kind": "deployments"},
        ),
        (
            attrs("delete", "namespaces", "prod", "prod"),
            "",
            'namespaces "prod" is forbidden: User "alice" cannot delete resource "namespaces" in API group "" '
            'in the namespace "prod"',
            {"name": "prod", "kind": "namespaces"},
        ),
        (
            attrs("list", "nodes"),
            "",
            'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope',
            {"kind": "nodes"},
        ),
        (
            attrs("patch", "deployments", "web", "a", "apps", "scale"),
            "",
            'deployments.apps "web" is forbidden: User "alice" cannot patch resource "deployments/scale" '
            'in API group "apps" in the namespace "a"',
            {"name": "web", "group": "apps", "kind": "deployments"},
        ),
        (
            attrs("get", "configmaps", "cfg", "a"),
            'RBAC: role.rbac.authorization.k8s.io "gone" not found',
            'configmaps "cfg" is forbidden: User "alice" cannot get resource "configmaps" in API group "" '
            'in the namespace "a": RBAC: role.rbac.authorization.k8s.io "gone" not found',
            {"name": "cfg", "kind": "configmaps"},
        ),
        (path_attrs("get", "/version"), "", 'forbidden: User "alice" cannot get path "/version"', {}),
        (path_attrs("get", "/<b>&"), "", 'forbidden: User "alice" cannot get path "/&lt;b&gt;&amp;"', {}),
    ],
)
def test_forbidden_messages(request_, reason, message, details):
    error = forbidden(request_, Decision(False, reason))
    assert isinstance(error, ApiError)
    assert (error.code, error.reason, error.message) == (403, "Forbidden", message)
    body = error.status()
    assert body["details"] == details
    assert list(body) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/x", {}, ("get", "", "namespaces", "", "x", "x")),
        ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "", "")),
        ("DELETE", "/api/v1/namespaces/x", {}, ("delete", "", "namespaces", "", "x", "x")),
        ("PUT", "/api/v1/namespaces/x/finalize", {}, ("update", "", "namespaces", "finalize", "x", "x")),
        ("PATCH", "/api/v1/namespaces/x/status", {}, ("patch", "", "namespaces", "status", "x", "x")),
        ("GET", "/api/v1/namespaces/a/pods", {}, ("list", "", "pods", "", "a", "")),
        ("GET", "/api/v1/namespaces/a/pods", {"watch": "true"}, ("watch", "", "pods", "", "a", "")),
        ("GET", "/api/v1/namespaces/a/pods", {"watch": "1"}, ("watch", "", "pods", "", "a", "")),
        ("GET", "/api/v1/namespaces/a/pods", {"watch": "False"}, ("list", "", "pods", "", "a", "")),
        ("GET", "/api/v1/namespaces/a/pods", {"watch": "0"}, ("list", "", "pods", "", "a", "")),
        ("GET", "/api/v1/namespaces/a/pods/p", {"watch": "true"}, ("get", "", "pods", "", "a", "p")),
        ("GET", "/api/v1/namespaces/a/pods/p/log", {}, ("get", "", "pods", "log", "a", "p")),
        ("GET", "/api/v1/watch/namespaces/a/pods", {}, ("watch", "", "pods", "", "a", "")),
        ("GET", "/api/v1/watch/namespaces/a/pods/p", {}, ("watch", "", "pods", "", "a", "p")),
        ("GET", "/api/v1/watch/pods", {}, ("watch", "", "pods", "", "", "")),
        ("GET", "/api/v1/proxy/namespaces/a/pods/p/x/y", {}, ("proxy", "", "pods", "", "a", "p")),
        ("GET", "/api/v1/pods", {}, ("list", "", "pods", "", "", "")),
        ("HEAD", "/api/v1/nodes/n1", {}, ("get", "", "nodes", "", "", "n1")),
        (
            "GET",
            "/apis/apps/v1/namespaces/a/deployments/web/scale",
            {},
            ("get", "apps", "deployments", "scale", "a", "web"),
        ),
        (
            "PUT",
            "/apis/apps/v1/namespaces/a/deployments/web/scale",
            {},
            ("update", "apps", "deployments", "scale", "a", "web"),
        ),
        ("POST", "/apis/apps/v1/namespaces/a/deployments", {}, ("create", "apps", "deployments", "", "a", "")),
        ("PATCH", "/apis/apps/v1/namespaces/a/deployments/web", {}, ("patch", "apps", "deployments", "", "a", "web")),
        ("DELETE", "/apis/apps/v1/namespaces/a/deployments/web", {}, ("delete", "apps", "deployments", "", "a", "web")),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/a/deployments",
            {},
            ("deletecollection", "apps", "deployments", "", "a", ""),
        ),
        ("GET", "/apis/apps/v1/deployments", {}, ("list", "apps", "deployments", "", "", "")),
        (
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
            {},
            ("get", "rbac.authorization.k8s.io", "clusterroles", "", "", "admin"),
        ),
        (
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            {},
            ("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""),
        ),
        # a list pinned to one name by field selector is authorized by that name
        (
            "GET",
            "/api/v1/namespaces/a/configmaps",
            {"fieldSelector": "metadata.name=cfg"},
            ("list", "", "configmaps", "", "a", "cfg"),
        ),
        (
            "GET",
            "/api/v1/namespaces/a/configmaps",
            {"fieldSelector": "metadata.name==cfg", "watch": "true"},
            ("watch", "", "configmaps", "", "a", "cfg"),
        ),
        (
            "GET",
            "/api/v1/namespaces/a/configmaps",
            {"fieldSelector": "metadata.name!=cfg"},
            ("list", "", "configmaps", "", "a", ""),
        ),
        (
            "GET",
            "/api/v1/namespaces/a/configmaps",
            {"fieldSelector": "metadata.name=.."},
            ("list", "", "configmaps", "", "a", ""),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/a/configmaps",
            {"fieldSelector": "metadata.name=cfg"},
            ("deletecollection", "", "configmaps", "", "a", ""),
        ),
    ],
)
def test_resource_request_attributes(method, path, query, expected):
    got = request_attributes(method, path, query, ALICE)
    assert got.resource_request
    assert (got.verb, got.api_group, got.resource, got.subresource, got.namespace, got.name) == expected
    assert (got.user, got.path) == (ALICE, path)


@pytest.mark.parametrize(
    ("method", "path", "verb"),
    [
        ("GET", "/healthz", "get"),
        ("GET", "/version", "get"),
        ("GET", "/api", "get"),
        ("GET", "/api/v1", "get"),
        ("GET", "/apis", "get"),
        ("GET", "/apis/apps", "get"),
        ("GET", "/apis/apps/v1", "get"),
        ("GET", "/openapi/v3", "get"),
        ("GET", "/openapi/v3/apis/apps/v1", "get"),
        ("POST", "/healthz", "post"),
        ("GET", "/", "get"),
    ],
)
def test_non_resource_request_attributes(method, path, verb):
    assert request_attributes(method, path, {}, ALICE) == Attributes(ALICE, verb, path=path, resource_request=False)


def test_a_bare_watch_prefix_is_an_internal_error():
    with pytest.raises(ApiError) as raised:
        request_attributes("GET", "/api/v1/watch", {}, ALICE)
    assert raised.value.code == 500


def test_a_list_pinned_by_field_selector_passes_a_resource_names_rule():
    one_rule = rule(["list"], resources=["configmaps"], names=["cfg"])
    pinned = request_attributes("GET", "/api/v1/namespaces/a/configmaps", {"fieldSelector": "metadata.name=cfg"}, ALICE)
    unpinned = request_attributes("GET", "/api/v1/namespaces/a/configmaps", {}, ALICE)
    assert granted_by(one_rule, pinned)
    assert not granted_by(one_rule, unpinned)


def test_rules_for_lists_the_bound_rules_of_the_namespace():
    cluster_roles = [cluster_role("read", READ_PODS, url_rule(["get"], ["/version", "/healthz/*"]))]
    roles = [role("cfg", "a", rule(["get"], resources=["configmaps"], names=["cfg"]))]
    role_bindings = [binding("b", "a", "Role", "cfg", user("alice")), binding("c", "b", "Role", "cfg", user("alice"))]
    cluster_role_bindings = [binding("x", "", "ClusterRole", "read", group("devs"))]
    assert rules_for(ALICE, "a", roles, cluster_roles, role_bindings, cluster_role_bindings) == {
        "resourceRules": [
            {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"]},
        ],
        "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/version", "/healthz/*"]}],
        "incomplete": False,
    }


def test_rules_for_masters_and_missing_roles():
    crb = [binding("x", "", "ClusterRole", "gone", group("system:masters"))]
    assert rules_for(ADMIN, "", [], [], [], crb) == {
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": False,
        "evaluationError": 'clusterrole.rbac.authorization.k8s.io "gone" not found',
    }
    assert rules_for(ALICE, "a", [], [], [], []) == {"resourceRules": [], "nonResourceRules": [], "incomplete": False}


def test_rules_for_masters_lists_the_star_rules_once_with_the_cluster_admin_binding():
    admin = cluster_role(
        "cluster-admin", {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, url_rule(["*"], ["*"])
    )
    crb = [binding("cluster-admin", "", "ClusterRole", "cluster-admin", group("system:masters"))]
    status = rules_for(ADMIN, "a", [], [admin], [], crb)
    assert status["resourceRules"] == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    assert status["nonResourceRules"] == [{"verbs": ["*"], "nonResourceURLs": ["*"]}]


@pytest.mark.parametrize(
    ("username", "groups", "checks", "message"),
    [
        (
            "bob",
            (),
            [("users", "", "bob")],
            'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope',
        ),
        (
            "bob",
            ("ops",),
            [("users", "", "bob"), ("groups", "", "ops")],
            'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope',
        ),
        (
            "system:serviceaccount:ci:builder",
            (),
            [("serviceaccounts", "ci", "builder")],
            'serviceaccounts "builder" is forbidden: User "alice" cannot impersonate resource "serviceaccounts" '
            'in API group "" in the namespace "ci"',
        ),
        # not a valid ServiceAccount username: an ordinary user name
        (
            "system:serviceaccount:ci",
            (),
            [("users", "", "system:serviceaccount:ci")],
            'users "system:serviceaccount:ci" is forbidden: User "alice" cannot impersonate resource "users" '
            'in API group "" at the cluster scope',
        ),
    ],
)
def test_impersonation_checks(username, groups, checks, message):
    found = allowed_to_impersonate(ALICE, username, groups)
    assert [(a.resource, a.namespace, a.name) for a in found] == checks
    assert all(a.verb == "impersonate" and a.user == ALICE and a.resource_request and not a.api_group for a in found)
    decision = authorize(found[0], [], [], [], [])
    assert not decision.allowed
    assert forbidden(found[0], decision).message == message


def test_impersonation_is_granted_per_name():
    may = cluster_role(
        "imp",
        rule(["impersonate"], resources=["users"], names=["bob"]),
        rule(["impersonate"], resources=["serviceaccounts"]),
    )
    crb = [binding("x", "", "ClusterRole", "imp", user("alice"))]
    rb = [binding("y", "ci", "ClusterRole", "imp", user("alice"))]
    allowed = {
        (a.resource, a.name): authorize(a, [], [may], rb, []).allowed
        for a in allowed_to_impersonate(ALICE, "system:serviceaccount:ci:builder")
    }
    assert allowed == {("serviceaccounts", "builder"): True}
    assert [authorize(a, [], [may], [], crb).allowed for a in allowed_to_impersonate(ALICE, "bob", ("ops",))] == [
        True,
        False,
    ]
    assert not authorize(allowed_to_impersonate(ALICE, "carol")[0], [], [may], [], crb).allowed


@pytest.mark.parametrize(
    ("username", "groups", "expected"),
    [
        ("bob", (), ("system:authenticated",)),
        ("bob", ("ops",), ("ops", "system:authenticated")),
        ("bob", ("system:unauthenticated",), ("system:unauthenticated",)),
        (
            "system:serviceaccount:ci:builder",
            (),
            ("system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"),
        ),
        ("system:serviceaccount:ci:builder", ("ops",), ("ops", "system:authenticated")),
        ("system:anonymous", (), ("system:unauthenticated",)),
    ],
)
def test_impersonated_user(username, groups, expected):
    assert impersonated_user(username, groups) == UserInfo(username, expected)


def load_deploy_rbac() -> dict[str, list[dict]]:
    objects: dict[str, list[dict]] = {"Role": [], "ClusterRole": [], "RoleBinding": [], "ClusterRoleBinding": []}
    for document in yaml.safe_load_all(RBAC_YAML.read_text(encoding="utf-8")):
        objects[document["kind"]].append(document)
    return objects


GITOPSCTL = impersonated_user("system:serviceaccount:gitopsctl:gitopsctl")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("PATCH", "/apis/apps/v1/namespaces/trading-prod/deployments/web", True),
        ("GET", "/api/v1/namespaces/trading-prod", True),
        ("GET", "/api/v1/namespaces/kube-system", True),
        ("GET", "/api/v1/namespaces", True),
        ("POST", "/api/v1/namespaces", True),
        ("DELETE", "/api/v1/namespaces/trading-prod", False),
        ("DELETE", "/api/v1/namespaces/kube-system", False),
        ("PATCH", "/apis/apps/v1/namespaces/kube-system/deployments/coredns", False),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/gitopsctl/leases/gitopsctl", True),
        ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/gitopsctl/leases/gitopsctl", False),
        ("GET", "/api/v1/namespaces/trading-dev/pods/p/log", False),
        ("DELETE", "/api/v1/namespaces/trading-staging/pods/p", False),
        ("PATCH", "/apis/apps/v1/namespaces/trading-prod/deployments/web/scale", False),
        ("GET", "/api/v1/namespaces/trading-prod/secrets", True),
    ],
)
def test_deploy_rbac_yaml(method, path, expected):
    objects = load_deploy_rbac()
    request_ = request_attributes(method, path, {}, GITOPSCTL)
    decision = authorize(
        request_, objects["Role"], objects["ClusterRole"], objects["RoleBinding"], objects["ClusterRoleBinding"]
    )
    assert decision.allowed is expected


def test_deploy_rbac_yaml_reasons():
    objects = load_deploy_rbac()
    patch = request_attributes("PATCH", "/apis/apps/v1/namespaces/trading-prod/deployments/web", {}, GITOPSCTL)
    decision = authorize(
        patch, objects["Role"], objects["ClusterRole"], objects["RoleBinding"], objects["ClusterRoleBinding"]
    )
    assert decision.reason == (
        'RBAC: allowed by RoleBinding "gitopsctl-deployer/trading-prod" of ClusterRole "gitopsctl-deployer" '
        'to ServiceAccount "gitopsctl/gitopsctl"'
    )
    delete = request_attributes("DELETE", "/api/v1/namespaces/kube-system", {}, GITOPSCTL)
    denied = authorize(
        delete, objects["Role"], objects["ClusterRole"], objects["RoleBinding"], objects["ClusterRoleBinding"]
    )
    assert forbidden(delete, denied).message == (
        'namespaces "kube-system" is forbidden: User "system:serviceaccount:gitopsctl:gitopsctl" cannot delete '
        'resource "namespaces" in API group "" in the namespace "kube-system"'
    )
