"""Defaulting and validation per kind, as kube-apiserver's registries do them.

Only what clients can observe is modelled: name rules, defaults a diff or a
controller sees (Service clusterIP, Deployment replicas, Secret stringData),
and the validation errors that matter (selector must match template labels,
immutable fields).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import itertools
import json
import re
import threading
from typing import Any

from .errors import ApiError, invalid
from .registry import ResourceType

_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_NAMED_KINDS = frozenset({"Namespace", "Service"})
_OMITTED_WHEN_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences")
_PATH_NAMED_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
_WORKLOADS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"})

_cluster_ips = itertools.count(10)
_ip_lock = threading.Lock()


def _allocate_cluster_ip() -> str:
    with _ip_lock:
        n = next(_cluster_ips)
    return str(ipaddress.ip_address("10.96.0.0") + n)


def name_problem(kind: str, name: str) -> str | None:
    """Why ``name`` is not a valid object name for ``kind``, or None."""
    if kind in _PATH_NAMED_KINDS:  # RBAC names are path segments upstream, so "system:discovery" is fine
        if name in (".", ".."):
            return f"may not be '{name}'"
        return next((f"may not contain '{c}'" for c in "/%" if c in name), None)
    if kind in _LABEL_NAMED_KINDS:
        if len(name) > 63:
            return "must be no more than 63 characters"
        return None if _LABEL_RE.match(name) else LABEL_MESSAGE
    if len(name) > 253:
        return "must be no more than 253 characters"
    return None if _SUBDOMAIN_RE.match(name) else SUBDOMAIN_MESSAGE


def _label_causes(labels: dict[str, Any], field: str) -> list[tuple[str, str, str]]:
    causes = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if not _QUALIFIED_NAME_RE.match(name or "") or len(name) > 63 or (prefix and not _SUBDOMAIN_RE.match(prefix)):
            causes.append(
                (
                    "FieldValueInvalid",
                    f"Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                    field,
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE_RE.match(value):
            causes.append(
                (
                    "FieldValueInvalid",
                    f"Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                    f"{field}",
                )
            )
    return causes


def admit(rt: ResourceType, new: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Default and validate ``new`` in place; raise 422 Invalid listing every problem."""
    meta = new.setdefault("metadata", {})
    for key in _OMITTED_WHEN_EMPTY:  # ObjectMeta is a Go struct: omitempty drops an emptied map or list
        if key in meta and not meta[key]:
            del meta[key]
    name = meta.get("name", "")
    causes: list[tuple[str, str, str]] = []
    if old is None and (problem := name_problem(rt.kind, name)):
        causes.append(("FieldValueInvalid", f'Invalid value: "{name}": {problem}', "metadata.name"))
    causes += _label_causes(meta.get("labels"), "metadata.labels")
    check = _KIND_RULES.get(rt.kind)
    if check is not None:
        causes += check(new, old)
    if causes:
        raise invalid(rt.kind, rt.group, name, causes)


def _namespace(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    new.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    status = new.setdefault("status", {})
    status.setdefault("phase", "Terminating" if new["metadata"].get("deletionTimestamp") else "Active")
    labels = new["metadata"].setdefault("labels", {})
    labels.setdefault("kubernetes.io/metadata.name", new["metadata"]["name"])
    return []


def _service(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    spec = new.setdefault("spec", {})
    causes = []
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
    if old_ip:
        if spec.get("clusterIP") in (None, ""):
            spec["clusterIP"] = old_ip
        elif spec["clusterIP"] != old_ip:
            causes.append(
                (
                    "FieldValueInvalid",
                    'Invalid value: "{}": field is immutable'.format(spec["clusterIP"]),
                    "spec.clusterIP",
                )
            )
    elif spec["type"] != "ExternalName" and not spec.get("clusterIP"):
        spec["clusterIP"] = _allocate_cluster_ip()
    if spec.get("clusterIP"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    new.setdefault("status", {}).setdefault("loadBalancer", {})
    return causes


def _default_pod_spec(pod_spec: dict[str, Any]) -> None:
    """kube-apiserver's defaults of a pod spec (SetDefaults_PodSpec, _Container, _ContainerPort), in pods and
    templates alike: a manifest that leaves them out reads back with them, as on a cluster."""
    for key, value in (
        ("restartPolicy", "Always"),
        ("terminationGracePeriodSeconds", 30),
        ("dnsPolicy", "ClusterFirst"),
        ("securityContext", {}),
        ("schedulerName", "default-scheduler"),
        ("enableServiceLinks", True),
    ):
        pod_spec.setdefault(key, value)
    for kind in ("initContainers", "containers"):
        for container in pod_spec.get(kind) or []:
            if not isinstance(container, dict):
                continue
            image = str(container.get("image", ""))
            tag = image.rpartition("/")[2].partition("@")[0]
            latest = ":" not in tag or tag.endswith(":latest")
            container.setdefault("imagePullPolicy", "Always" if latest and "@" not in image else "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _pod_spec_causes(pod_spec: dict[str, Any] | None, field: str) -> list:
    if isinstance(pod_spec, dict):
        _default_pod_spec(pod_spec)
    causes = []
    containers = (pod_spec or {}).get("containers")
    if not containers:
        causes.append(("FieldValueRequired", "Required value", f"{field}.containers"))
    for i, container in enumerate(containers or []):
        if not isinstance(container, dict) or not container.get("name"):
            causes.append(("FieldValueRequired", "Required value", f"{field}.containers[{i}].name"))
        elif not container.get("image"):
            causes.append(("FieldValueRequired", "Required value", f"{field}.containers[{i}].image"))
    return causes


def _workload(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    spec = new.setdefault("spec", {})
    kind = new.get("kind", "")
    causes = []
    if kind != "DaemonSet":
        spec.setdefault("replicas", 1)
        if not isinstance(spec["replicas"], int) or spec["replicas"] < 0:
            causes.append(
                (
                    "FieldValueInvalid",
                    f"Invalid value: {spec['replicas']}: must be greater than or equal to 0",
                    "spec.replicas",
                )
            )
    if kind == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault(
            "strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
        )
    selector = spec.get("selector")
    template = spec.get("template") or {}
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        causes.append(("FieldValueRequired", "Required value", "spec.selector"))
    else:
        from .selectors import label_selector_from_match

        if not label_selector_from_match(selector)(template_labels):
            causes.append(
                (
                    "FieldValueInvalid",
                    f"Invalid value: map[string]string{json.dumps(template_labels, separators=(',', ':'))}: "
                    "`selector` does not match template `labels`",
                    "spec.template.metadata.labels",
                )
            )
        old_selector = ((old or {}).get("spec") or {}).get("selector")
        if old is not None and old_selector is not None and old_selector != selector:
            causes.append(("FieldValueInvalid", f"Invalid value: {selector}: field is immutable", "spec.selector"))
    causes += _pod_spec_causes(template.get("spec"), "spec.template.spec")
    return causes


def _pod(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    if old is None:
        new["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        spec = new.get("spec")
        if isinstance(spec, dict):  # the ServiceAccount admission plugin
            spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
            spec.setdefault("serviceAccount", spec["serviceAccountName"])
    return _pod_spec_causes(new.get("spec"), "spec")


def _job(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    spec = new.setdefault("spec", {})
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    template = spec.setdefault("template", {})
    causes = _pod_spec_causes(template.get("spec"), "spec.template.spec")
    restart = (template.get("spec") or {}).get("restartPolicy")
    if restart not in ("Never", "OnFailure"):
        causes.append(
            (
                "FieldValueNotSupported",
                f'Unsupported value: "{restart or "Always"}": supported values: "OnFailure", "Never"',
                "spec.template.spec.restartPolicy",
            )
        )
    for field in ("backoffLimit", "activeDeadlineSeconds"):  # ValidateNonnegativeField, as kube-apiserver
        value = spec.get(field)
        if isinstance(value, int) and value < 0:
            causes.append(
                ("FieldValueInvalid", f"Invalid value: {value}: must be greater than or equal to 0", f"spec.{field}")
            )
    if old is None and "selector" not in spec:
        uid = new["metadata"]["uid"]
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels["batch.kubernetes.io/controller-uid"] = uid
        labels["batch.kubernetes.io/job-name"] = new["metadata"]["name"]
    return causes


def _secret(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    new.setdefault("type", "Opaque")
    causes = []
    string_data = new.pop("stringData", None) or {}
    data = dict(new.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    for key, value in data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError):
            causes.append(
                (
                    "FieldValueInvalid",
                    'Invalid value: "<secret contents redacted>": illegal base64 data',
                    f"data[{key}]",
                )
            )
    if data:
        new["data"] = data
    return causes


def _crd(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    spec = new.get("spec") or {}
    names = spec.get("names") or {}
    causes = []
    expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
    if new["metadata"]["name"] != expected:
        causes.append(
            (
                "FieldValueInvalid",
                f'Invalid value: "{new["metadata"]["name"]}": must be spec.names.plural+"."+spec.group',
                "metadata.name",
            )
        )
    if not names.get("kind"):
        causes.append(("FieldValueRequired", "Required value", "spec.names.kind"))
    if not spec.get("versions"):
        causes.append(("FieldValueRequired", "Required value", "spec.versions"))
    names.setdefault("singular", (names.get("kind") or "").lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    new["status"] = {
        "acceptedNames": {k: v for k, v in names.items()},
        "storedVersions": [v.get("name") for v in spec.get("versions") or [] if v.get("storage")],
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
    }
    return causes


def _pvc(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    if old is None:
        new["status"] = {"phase": "Pending"}
    return []


def _rules(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    """Each rule needs verbs, and either resources (with apiGroups) or nonResourceURLs."""
    causes = []
    for i, rule in enumerate(new.get("rules") or []):
        where = f"rules[{i}]"
        if not rule.get("verbs"):
            causes.append(
                ("FieldValueRequired", "Required value: verbs must contain at least one value", f"{where}.verbs")
            )
        if rule.get("resources") and "apiGroups" not in rule:
            causes.append(
                (
                    "FieldValueRequired",
                    "Required value: resource rules must supply at least one api group",
                    f"{where}.apiGroups",
                )
            )
        if not rule.get("resources") and not rule.get("nonResourceURLs"):
            causes.append(
                ("FieldValueRequired", "Required value: resources or nonResourceURLs must be set", f"{where}.resources")
            )
    return causes


def _binding(new: dict[str, Any], old: dict[str, Any] | None) -> list:
    """roleRef is required, names a Role or ClusterRole, and cannot change; subjects need a kind and a name."""
    ref = new.get("roleRef") or {}
    causes = []
    if ref.get("kind") not in ("Role", "ClusterRole") or not ref.get("name"):
        causes.append(
            ("FieldValueNotSupported", 'Unsupported value: roleRef must name a "Role" or "ClusterRole"', "roleRef")
        )
    if old is not None and (old.get("roleRef") or {}) != ref:
        causes.append(("FieldValueInvalid", "Invalid value: cannot change roleRef", "roleRef"))
    for i, subject in enumerate(new.get("subjects") or []):
        if subject.get("kind") not in ("User", "Group", "ServiceAccount") or not subject.get("name"):
            causes.append(("FieldValueInvalid", "Invalid value: a subject needs a kind and a name", f"subjects[{i}]"))
    return causes


_KIND_RULES = {
    "Role": _rules,
    "ClusterRole": _rules,
    "RoleBinding": _binding,
    "ClusterRoleBinding": _binding,
    "Namespace": _namespace,
    "Service": _service,
    "Deployment": _workload,
    "ReplicaSet": _workload,
    "StatefulSet": _workload,
    "DaemonSet": _workload,
    "Pod": _pod,
    "Job": _job,
    "Secret": _secret,
    "CustomResourceDefinition": _crd,
    "PersistentVolumeClaim": _pvc,
}

__all__ = ["admit", "name_problem", "ApiError"]
