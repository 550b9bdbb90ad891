"""The RBAC objects kube-apiserver writes at start-up, so a new user can do what it could on a real cluster.

Without them a user with no binding could not even read discovery, and RBAC
here would refuse what a real cluster allows. These are upstream's bootstrap
policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy) for the kinds the
sandbox serves: ``cluster-admin`` for ``system:masters``, discovery, basic-user
(self reviews) and public-info-viewer for everyone, and the user-facing
``admin``, ``edit`` and ``view`` roles, written out in full since the sandbox
does not aggregate ClusterRoles. They are recreated when missing and left
alone otherwise (an administrator may change them), as kube-apiserver does
with ``rbac.authorization.kubernetes.io/autoupdate: "false"``.
"""

from __future__ import annotations

from typing import Any

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
MANAGER = "kube-apiserver"

_VIEW_RULES = [
    {
        "apiGroups": [""],
        "resources": [
            "configmaps",
            "endpoints",
            "persistentvolumeclaims",
            "persistentvolumeclaims/status",
            "pods",
            "pods/log",
            "pods/status",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "replicationcontrollers/status",
            "serviceaccounts",
            "services",
            "services/status",
            "bindings",
            "events",
            "limitranges",
            "namespaces/status",
            "resourcequotas",
            "resourcequotas/status",
        ],
        "verbs": READ,
    },
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": READ},
    {
        "apiGroups": ["apps"],
        "resources": [
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "statefulsets",
            "statefulsets/scale",
            "statefulsets/status",
        ],
        "verbs": READ,
    },
    {
        "apiGroups": ["autoscaling"],
        "resources": ["horizontalpodautoscalers", "horizontalpodautoscalers/status"],
        "verbs": READ,
    },
    {"apiGroups": ["batch"], "resources": ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], "verbs": READ},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses", "ingresses/status", "networkpolicies"],
        "verbs": READ,
    },
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets", "poddisruptionbudgets/status"], "verbs": READ},
]

_EDIT_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"],
        "verbs": READ,
    },
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
    {
        "apiGroups": [""],
        "resources": ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"],
        "verbs": WRITE,
    },
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {
        "apiGroups": [""],
        "resources": [
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
            "services",
            "services/proxy",
        ],
        "verbs": WRITE,
    },
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
    {
        "apiGroups": ["apps"],
        "resources": [
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ],
        "verbs": WRITE,
    },
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": WRITE},
    {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": WRITE},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"], "verbs": WRITE},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": WRITE},
    *_VIEW_RULES,
]

_ADMIN_RULES = [
    {"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings", "roles"], "verbs": [*READ, *WRITE]},
    *_EDIT_RULES,
]


def _cluster_role(name: str, rules: list[dict[str, Any]], **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **labels},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "rules": rules,
    }


def _binding(name: str, role: str, groups: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g} for g in groups],
    }


CLUSTER_ROLES = (
    _cluster_role(
        "cluster-admin",
        [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    ),
    _cluster_role(
        "system:discovery",
        [
            {
                "nonResourceURLs": [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                "verbs": ["get"],
            }
        ],
    ),
    _cluster_role(
        "system:basic-user",
        [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            },
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
        ],
    ),
    _cluster_role(
        "system:public-info-viewer",
        [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
    ),
    _cluster_role("admin", _ADMIN_RULES),
    _cluster_role("edit", _EDIT_RULES),
    _cluster_role("view", _VIEW_RULES),
)

CLUSTER_ROLE_BINDINGS = (
    _binding("cluster-admin", "cluster-admin", ["system:masters"]),
    _binding("system:discovery", "system:discovery", ["system:authenticated"]),
    _binding("system:basic-user", "system:basic-user", ["system:authenticated"]),
    _binding(
        "system:public-info-viewer", "system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]
    ),
)
