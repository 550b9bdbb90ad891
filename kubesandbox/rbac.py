"""RBAC as kube-apiserver's RBAC authorizer decides it, as pure functions over stored objects.

gitopsctl ships least-privilege RBAC (deploy/rbac.yaml); a sandbox that allowed
everything would hide a missing rule until production refused it. So the
sandbox derives a request's attributes as kube-apiserver's RequestInfoFactory
does, resolves rules as its RBAC rule resolver does (ClusterRoleBindings, then
the namespace's RoleBindings, first allowing rule wins, missing roles skipped
but reported), and words the 403 as its authorization filter does, so clients
and tests see a real cluster's answers. ``system:masters`` is always allowed,
as kube-apiserver's privileged-group authorizer allows it ahead of RBAC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubesandbox.errors import ApiError, qualified
from kubesandbox.users import AUTHENTICATED, MASTERS, SERVICE_ACCOUNT_PREFIX, UserInfo

Obj = Mapping[str, Any]

ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"

_SPECIAL_VERBS = {"proxy", "watch"}  # the deprecated /api/v1/watch/... and /proxy/... prefixes
_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_NAME_SELECTOR = re.compile(r"metadata\.name==?(.*)")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# what cluster-admin, bound to system:masters, lists in a SelfSubjectRulesReview
_MASTERS_RULES = (
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
)


@dataclass(frozen=True)
class Attributes:
    """kube-apiserver's authorizer.Attributes; ``path`` is what a non-resource request is authorized by."""

    user: UserInfo
    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    resource_request: bool = True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def request_attributes(method: str, path: str, query: Mapping[str, str], user: UserInfo) -> Attributes:
    """What kube-apiserver's RequestInfoFactory derives from a request, as its authorizer sees it."""
    non_resource = Attributes(user, method.lower(), path=path, resource_request=False)
    parts = path.strip("/").split("/") if path.strip("/") else []
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return non_resource
    group = ""
    if parts[0] == "apis":
        if len(parts) < 4:
            return non_resource
        group, parts = parts[1], parts[3:]
    else:
        parts = parts[2:]
    if parts[0] in _SPECIAL_VERBS:
        if len(parts) < 2:
            # upstream answers 500 here, before authorization
            raise ApiError(
                500,
                "InternalError",
                f"failed to create RequestInfo: unable to determine kind and namespace from url, {path}",
            )
        verb, parts = parts[0], parts[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 and verb != "proxy" else ""
    if not name and verb == "get":
        watch = query.get("watch")
        # upstream: a value strconv.ParseBool rejects still means watch here (the handler then answers 400)
        verb = "watch" if watch is not None and parse_bool(watch) is not False else "list"
        name = _selected_name(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, group, resource, subresource, namespace, name, path)


def parse_bool(value: str) -> bool | None:
    """Go's strconv.ParseBool, as kube-apiserver reads ``watch=`` and the like; None for anything else."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _selected_name(selector: str) -> str:
    """The name a ``metadata.name=`` field selector pins a list or watch to: upstream authorizes it by that name."""
    for term in selector.split(","):
        match = _NAME_SELECTOR.fullmatch(term)
        if match:
            name = match[1]
            return "" if name in (".", "..") or "/" in name or "%" in name else name
    return ""


def _rule_allows(attrs: Attributes, rule: Obj) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if not attrs.resource_request:
        urls = rule.get("nonResourceURLs") or []
        return any(url == attrs.path or (url.endswith("*") and attrs.path.startswith(url.rstrip("*"))) for url in urls)
    groups = rule.get("apiGroups") or []
    names = rule.get("resourceNames") or []
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resource_matches = any(
        resource in ("*", combined) or (attrs.subresource and resource == f"*/{attrs.subresource}")
        for resource in rule.get("resources") or []
    )
    return ("*" in groups or attrs.api_group in groups) and resource_matches and (not names or attrs.name in names)


def _applies(user: UserInfo, subject: Obj, namespace: str) -> bool:
    """Whether a binding subject is this user; a ServiceAccount without namespace is in the binding's."""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return user.username == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user.username == f"{SERVICE_ACCOUNT_PREFIX}{sa_namespace}:{name}"
    return False


def _describe(binding: Obj, subject: Obj, namespace: str) -> str:
    """The binding as upstream's reason names it, e.g. ``RoleBinding "b/ns" of Role "r" to User "u"``."""
    ref = binding.get("roleRef") or {}
    name = binding["metadata"]["name"]
    who = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        who = f"{who}/{subject.get('namespace') or namespace}"
    kind = f'RoleBinding "{name}/{namespace}"' if namespace else f'ClusterRoleBinding "{name}"'
    return f'{kind} of {ref.get("kind", "")} "{ref.get("name", "")}" to {subject.get("kind")} "{who}"'


def _visit(
    user: UserInfo,
    namespace: str,
    roles: Sequence[Obj],
    cluster_roles: Sequence[Obj],
    role_bindings: Sequence[Obj],
    cluster_role_bindings: Sequence[Obj],
) -> Iterator[tuple[str, Obj | None, str]]:
    """(source, rule, error) in the order upstream's VisitRulesFor yields them."""
    bindings = [(binding, "") for binding in cluster_role_bindings]
    if namespace:
        bindings += [(b, namespace) for b in role_bindings if b["metadata"].get("namespace") == namespace]
    for binding, binding_namespace in bindings:
        subject = next((s for s in binding.get("subjects") or [] if _applies(user, s, binding_namespace)), None)
        if subject is None:
            continue
        ref = binding.get("roleRef") or {}
        kind, ref_name = ref.get("kind", ""), ref.get("name", "")
        if kind == "Role":
            found = [r for r in roles if r["metadata"].get("namespace") == binding_namespace]
        elif kind == "ClusterRole":
            found = list(cluster_roles)
        else:
            yield "", None, f'unsupported role reference kind: "{kind}"'
            continue
        role = next((r for r in found if r["metadata"]["name"] == ref_name), None)
        if role is None:
            yield "", None, f'{kind.lower()}.rbac.authorization.k8s.io "{ref_name}" not found'
            continue
        source = _describe(binding, subject, binding_namespace)
        for rule in role.get("rules") or []:
            yield source, rule, ""


def _aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate's text: one error bare, several deduplicated in brackets."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else f"[{', '.join(unique)}]"


def authorize(
    attrs: Attributes,
    roles: Sequence[Obj],
    cluster_roles: Sequence[Obj],
    role_bindings: Sequence[Obj],
    cluster_role_bindings: Sequence[Obj],
) -> Decision:
    """kube-apiserver's decision; the reason names the allowing binding, or on denial the roles it could not find."""
    if MASTERS in attrs.user.groups:
        return Decision(True, "")
    errors: list[str] = []
    for source, rule, error in _visit(
        attrs.user, attrs.namespace, roles, cluster_roles, role_bindings, cluster_role_bindings
    ):
        if rule is not None and _rule_allows(attrs, rule):
            return Decision(True, f"RBAC: allowed by {source}")
        if error:
            errors.append(error)
    return Decision(False, f"RBAC: {_aggregate(errors)}" if errors else "")


def rules_for(
    user: UserInfo,
    namespace: str,
    roles: Sequence[Obj],
    cluster_roles: Sequence[Obj],
    role_bindings: Sequence[Obj],
    cluster_role_bindings: Sequence[Obj],
) -> dict[str, Any]:
    """The ``status`` of a SelfSubjectRulesReview for ``user`` in ``namespace``, JSON omitempty as upstream."""
    policy: list[Obj] = []
    errors: list[str] = []
    for _, rule, error in _visit(user, namespace, roles, cluster_roles, role_bindings, cluster_role_bindings):
        if rule is not None:
            policy.append(rule)
        if error:
            errors.append(error)
    if MASTERS in user.groups:  # unless the cluster-admin binding listed them already
        policy = [rule for rule in _MASTERS_RULES if rule not in policy] + policy
    resource_fields = ("verbs", "apiGroups", "resources", "resourceNames")
    status: dict[str, Any] = {
        "resourceRules": [
            {key: list(rule.get(key) or []) for key in resource_fields if key == "verbs" or rule.get(key)}
            for rule in policy
            if rule.get("resources")
        ],
        "nonResourceRules": [
            {"verbs": list(rule.get("verbs") or []), "nonResourceURLs": list(rule["nonResourceURLs"])}
            for rule in policy
            if rule.get("nonResourceURLs")
        ],
        "incomplete": False,
    }
    if errors:
        status["evaluationError"] = _aggregate(errors)
    return status


def _quote(text: str) -> str:
    """Go's %q for the printable names the sandbox accepts."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def forbidden(attrs: Attributes, decision: Decision) -> ApiError:
    """The 403 kube-apiserver's authorization filter writes (responsewriters.ForbiddenStatusError)."""
    user = _quote(attrs.user.username)
    if attrs.resource_request:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        scope = f"in the namespace {_quote(attrs.namespace)}" if attrs.namespace else "at the cluster scope"
        text = f"User {user} cannot {attrs.verb} resource {_quote(resource)} in API group {_quote(attrs.api_group)} {scope}"
    else:
        text = f"User {user} cannot {attrs.verb} path {_quote(attrs.path)}"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if decision.reason:
        text = f"{text}: {decision.reason}"
    if not attrs.resource and not attrs.api_group:
        message = f"forbidden: {text}"
    elif not attrs.name:
        message = f"{qualified(attrs.resource, attrs.api_group)} is forbidden: {text}"
    else:
        message = f"{qualified(attrs.resource, attrs.api_group)} {_quote(attrs.name)} is forbidden: {text}"
    details = {"name": attrs.name, "group": attrs.api_group, "kind": attrs.resource}
    return ApiError(403, "Forbidden", message, details=details)


def _service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a valid ServiceAccount username, as serviceaccount.SplitUsername accepts it."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
    if len(parts) != 2 or not _DNS_LABEL.fullmatch(parts[0]) or not _DNS_SUBDOMAIN.fullmatch(parts[1]):
        return None
    return parts[0], parts[1]


def allowed_to_impersonate(requestor: UserInfo, username: str, groups: Sequence[str] = ()) -> list[Attributes]:
    """The checks of Impersonate-User/-Group, in upstream's order; each must be allowed, the first denial is the 403."""
    service_account = _service_account(username)
    if service_account:
        namespace, name = service_account
        checks = [Attributes(requestor, "impersonate", resource="serviceaccounts", namespace=namespace, name=name)]
    else:
        checks = [Attributes(requestor, "impersonate", resource="users", name=username)]
    return checks + [Attributes(requestor, "impersonate", resource="groups", name=group) for group in groups]


def impersonated_user(username: str, groups: Sequence[str] = ()) -> UserInfo:
    """Who the request then runs as: a ServiceAccount's groups unless groups are given, plus the authenticated group."""
    result = list(groups)
    service_account = _service_account(username)
    if service_account and not groups:
        result = ["system:serviceaccounts", f"system:serviceaccounts:{service_account[0]}"]
    if username == ANONYMOUS:
        if UNAUTHENTICATED not in result:
            result.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in result and UNAUTHENTICATED not in result:
        result.append(AUTHENTICATED)
    return UserInfo(username, tuple(result))
