"""The kinds the sandbox serves: built-ins plus whatever CRDs define.

A :class:`ResourceType` carries what discovery publishes (plural, kind, scope,
short names, verbs) and what the write path needs (status subresource, how to
key lists for strategic merge and server-side apply).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    status: bool = False
    scale: bool = False
    categories: tuple[str, ...] = ()
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    builtin: bool = True
    printer_columns: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects of every served version of a kind share one store."""
        return (self.group, self.plural)

    @property
    def has_generation(self) -> bool:
        return self.status or not self.builtin

    def discovery(self) -> list[dict[str, Any]]:
        entries = [
            {
                "name": self.plural,
                "singularName": self.singular,
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": list(self.verbs),
                **({"shortNames": list(self.short_names)} if self.short_names else {}),
                **({"categories": list(self.categories)} if self.categories else {}),
            }
        ]
        if self.status:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        for sub, (kind, group, version, verbs) in SUBRESOURCES.get((self.group, self.plural), {}).items():
            entries.append(
                {
                    "name": f"{self.plural}/{sub}",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    **({"group": group, "version": version} if group else {}),
                    "kind": kind,
                    "verbs": list(verbs),
                }
            )
        if self.scale:
            entries.append(
                {
                    "name": f"{self.plural}/scale",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
        return entries


def _rt(group: str, version: str, plural: str, kind: str, **kw: Any) -> ResourceType:
    return ResourceType(group, version, plural, kind, **kw)


BUILTINS: tuple[ResourceType, ...] = (
    _rt("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",), status=True),
    _rt("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _rt("", "v1", "secrets", "Secret"),
    _rt("", "v1", "services", "Service", short_names=("svc",), status=True, categories=("all",)),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _rt("", "v1", "pods", "Pod", short_names=("po",), status=True, categories=("all",)),
    _rt("", "v1", "events", "Event", short_names=("ev",)),
    _rt(
        "",
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        short_names=("rc",),
        status=True,
        scale=True,
        categories=("all",),
    ),
    _rt("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",), status=True),
    _rt("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), status=True),
    _rt(
        "apps", "v1", "deployments", "Deployment", short_names=("deploy",), status=True, scale=True, categories=("all",)
    ),
    _rt(
        "apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), status=True, scale=True, categories=("all",)
    ),
    _rt("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), status=True, categories=("all",)),
    _rt("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), status=True, scale=True, categories=("all",)),
    _rt("batch", "v1", "jobs", "Job", status=True, categories=("all",)),
    _rt("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",), status=True),
    _rt("coordination.k8s.io", "v1", "leases", "Lease"),
    _rt(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        status=True,
    ),
    _rt(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
        status=True,
        categories=("all",),
    ),
    # served from the same store as v2 (converted both ways, see conversion.py): `kubectl autoscale`
    _rt(
        "autoscaling",
        "v1",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
        status=True,
        categories=("all",),
    ),
    _rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",), status=True),
    # RBAC objects are stored and validated, not enforced: every token may do everything here
    _rt("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    # metrics-server and other aggregated APIs register here; the sandbox stores them and proxies nothing
    _rt("apiregistration.k8s.io", "v1", "apiservices", "APIService", namespaced=False, status=True),
    # answered from the caller's token and never stored: `kubectl auth whoami`
    _rt("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", namespaced=False, verbs=("create",)),
    # answered from RBAC and never stored: `kubectl auth can-i` and `kubectl auth can-i --list`
    _rt(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        verbs=("create",),
    ),
    _rt(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        namespaced=False,
        verbs=("create",),
    ),
)

CRD_TYPE = next(rt for rt in BUILTINS if rt.kind == "CustomResourceDefinition")
REVIEWS = frozenset(rt for rt in BUILTINS if rt.kind.startswith("SelfSubject"))
# subresources served beside status and scale: (kind, group, version, verbs) as discovery lists them
SUBRESOURCES: dict[tuple[str, str], dict[str, tuple[str, str, str, tuple[str, ...]]]] = {
    ("", "pods"): {
        "log": ("Pod", "", "", ("get",)),
        "exec": ("PodExecOptions", "", "", ("create", "get")),
        "attach": ("PodAttachOptions", "", "", ("create", "get")),
        "portforward": ("PodPortForwardOptions", "", "", ("create", "get")),
    },
    ("", "serviceaccounts"): {"token": ("TokenRequest", "authentication.k8s.io", "v1", ("create",))},
}


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The served versions of a CRD as resource types."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    found = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        found.append(
            ResourceType(
                group=spec.get("group", ""),
                version=version.get("name", "v1"),
                plural=names.get("plural", ""),
                kind=names.get("kind", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status="status" in subresources,
                scale="scale" in subresources,
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                builtin=False,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            )
        )
    return found


class Registry:
    """Thread-safe index of served types by group/version/plural and by group/version/kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._crd_types: dict[str, list[ResourceType]] = {}
        for rt in BUILTINS:
            self._by_gvr[(rt.group, rt.version, rt.plural)] = rt

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._by_gvr.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for rt in self._by_gvr.values():
                if rt.group == group and rt.version == version and rt.kind == kind:
                    return rt
        return None

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._by_gvr.values())

    def versions_of(self, group: str, plural: str) -> list[ResourceType]:
        with self._lock:
            return [rt for rt in self._by_gvr.values() if rt.group == group and rt.plural == plural]

    def register_crd(self, crd: dict[str, Any]) -> list[ResourceType]:
        name = crd["metadata"]["name"]
        types = types_from_crd(crd)
        with self._lock:
            for old in self._crd_types.pop(name, []):
                self._by_gvr.pop((old.group, old.version, old.plural), None)
            for rt in types:
                self._by_gvr[(rt.group, rt.version, rt.plural)] = rt
            self._crd_types[name] = types
        return types

    def unregister_crd(self, name: str) -> list[ResourceType]:
        with self._lock:
            types = self._crd_types.pop(name, [])
            for rt in types:
                self._by_gvr.pop((rt.group, rt.version, rt.plural), None)
        return types

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred (first registered) first."""
        groups: dict[str, list[str]] = {}
        with self._lock:
            for rt in self._by_gvr.values():
                versions = groups.setdefault(rt.group, [])
                if rt.version not in versions:
                    versions.append(rt.version)
        return groups
