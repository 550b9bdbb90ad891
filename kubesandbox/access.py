"""Who is asking and what they may do: authentication, impersonation, RBAC and the self reviews.

kube-apiserver's request chain in order: the bearer token names a user (a
ServiceAccount's bound token only while that very account exists), the
``Impersonate-*`` headers may swap it for another if RBAC allows ``impersonate``,
and RBAC decides the request (see rbac.py). The answers a client asks for about
itself (``kubectl auth whoami``, ``auth can-i``, ``auth can-i --list``) and
``kubectl create token`` are answered here from the same decisions, so what
``can-i`` says is what the next request meets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from . import rbac
from .api import Api, now_rfc3339, parse_rfc3339
from .errors import ApiError, bad_request, not_found
from .registry import ResourceType
from .users import MASTERS, MIN_TOKEN_SECONDS, UserInfo, Users

RBAC_GROUP = "rbac.authorization.k8s.io"
DEFAULT_TOKEN_SECONDS = 3600
SA_DELETION_GRACE = 60.0


class Access:
    def __init__(self, api: Api, users: Users) -> None:
        self.api = api
        self.users = users

    def authenticate(self, authorization: str) -> UserInfo | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        user = self.users.authenticate(token.strip())
        if user is not None and user.service_account:
            namespace, name, uid = user.service_account
            account = self.api.store.get(("", "serviceaccounts"), namespace, name)
            if account is None or account["metadata"]["uid"] != uid or _deleted_long_ago(account):
                return None  # a bound token dies with its ServiceAccount
            bound = self.users.bound_object(token.strip())
            if bound is not None:
                plural, object_name, object_uid = bound
                found = self.api.store.get(("", plural), namespace, object_name)
                if found is None or found["metadata"]["uid"] != object_uid:
                    return None  # and with the pod or secret it was bound to
        return user

    def impersonate(self, user: UserInfo, headers: Message) -> tuple[UserInfo, UserInfo | None]:
        """(who the request runs as, the impersonated user or None); each impersonation is authorized."""
        name = headers.get("Impersonate-User") or None  # an empty header is no impersonation, as upstream
        groups = headers.get_all("Impersonate-Group") or []
        uid = headers.get("Impersonate-Uid")
        extras = [key for key in headers if key.lower().startswith("impersonate-extra-")]
        if name is None:
            if groups or uid or extras:
                raise bad_request("requested impersonation of groups, uid or extra without impersonating a user")
            return user, None
        checks = rbac.allowed_to_impersonate(user, name, groups)
        if uid:
            checks.append(rbac.Attributes(user, "impersonate", "authentication.k8s.io", "uids", name=uid))
        for key in extras:  # the sandbox keeps no extras, but asking for them still needs the grant
            extra = key[len("impersonate-extra-") :].lower()
            checks.append(rbac.Attributes(user, "impersonate", "authentication.k8s.io", "userextras", extra))
        for attrs in checks:
            decision = self.decide(attrs)
            if not decision.allowed:
                raise rbac.forbidden(attrs, decision)
        as_user = rbac.impersonated_user(name, groups)
        return as_user, as_user

    def decide(self, attrs: rbac.Attributes) -> rbac.Decision:
        if MASTERS in attrs.user.groups:  # the privileged group never reaches RBAC, nor its object lists
            return rbac.Decision(True, "")
        return rbac.authorize(attrs, *self._policy())

    def authorize(self, attrs: rbac.Attributes) -> None:
        decision = self.decide(attrs)
        if not decision.allowed:
            raise rbac.forbidden(attrs, decision)

    def _policy(self) -> Sequence[list[dict[str, Any]]]:
        store = self.api.store
        return tuple(
            store.list((RBAC_GROUP, plural), None)[0]
            for plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")
        )

    # -------------------------------------------------------------- reviews

    def review(self, rt: ResourceType, user: UserInfo, body: dict[str, Any]) -> dict[str, Any]:
        """A SelfSubjectReview, -AccessReview or -RulesReview answered for the caller; nothing is stored."""
        spec = body.get("spec") or {}
        if not isinstance(spec, dict):
            raise bad_request("spec must be an object")
        if rt.kind == "SelfSubjectReview":
            status: dict[str, Any] = {"userInfo": {"username": user.username, "groups": list(user.groups)}}
            if user.service_account:
                status["userInfo"]["uid"] = user.service_account[2]
        elif rt.kind == "SelfSubjectAccessReview":
            status = self._access_review(user, spec)
        else:
            status = rbac.rules_for(user, _text(spec, "namespace"), *self._policy())
        return {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": {"creationTimestamp": now_rfc3339()},
            **({"spec": spec} if rt.kind != "SelfSubjectReview" else {}),
            "status": status,
        }

    def _access_review(self, user: UserInfo, spec: dict[str, Any]) -> dict[str, Any]:
        resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if (resource is None) == (non_resource is None):
            raise ApiError(
                422,
                "Invalid",
                'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
                "Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        if resource is not None:
            attrs = rbac.Attributes(
                user,
                _text(resource, "verb"),
                _text(resource, "group"),
                _text(resource, "resource"),
                _text(resource, "subresource"),
                _text(resource, "namespace"),
                _text(resource, "name"),
            )
        else:
            attrs = rbac.Attributes(
                user, _text(non_resource, "verb"), path=_text(non_resource, "path"), resource_request=False
            )
        decision = self.decide(attrs)
        return {"allowed": decision.allowed, **({"reason": decision.reason} if decision.reason else {})}

    # -------------------------------------------------------------- tokens

    def token_request(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``kubectl create token``: a bound token for an existing ServiceAccount."""
        account = self.api.store.get(("", "serviceaccounts"), namespace, name)
        if account is None:
            raise not_found("serviceaccounts", "", name)
        spec = body.get("spec") or {}
        if not isinstance(spec, dict):
            raise bad_request("spec of a TokenRequest must be an object")
        seconds = spec.get("expirationSeconds", DEFAULT_TOKEN_SECONDS)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not MIN_TOKEN_SECONDS <= seconds < 2**32:
            raise ApiError(
                422,
                "Invalid",
                f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: '
                f"Invalid value: {json.dumps(seconds)}: may not specify a duration less than 10 minutes "
                "or longer than 2^32 seconds",
            )
        bound = self._bound_object(namespace, spec.get("boundObjectRef"))
        token, expiry, seconds = self.users.issue_token(namespace, name, account["metadata"]["uid"], seconds, bound)
        spec = {**spec, "expirationSeconds": seconds}
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": now_rfc3339()},
            "spec": {**spec, "audiences": spec.get("audiences") or ["https://kubernetes.default.svc"]},
            "status": {
                "token": token,
                "expirationTimestamp": datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }

    def _bound_object(self, namespace: str, ref: Any) -> tuple[str, str, str] | None:
        """(plural, name, uid) of the Pod or Secret a token is bound to; it must exist, as upstream checks."""
        if ref is None:
            return None
        kinds = {"Pod": "pods", "Secret": "secrets"}
        if not isinstance(ref, dict) or ref.get("kind") not in kinds or not isinstance(ref.get("name"), str):
            raise bad_request("boundObjectRef must name a Pod or a Secret")
        plural = kinds[ref["kind"]]
        found = self.api.store.get(("", plural), namespace, ref["name"])
        if found is None or (ref.get("uid") and ref["uid"] != found["metadata"]["uid"]):
            raise not_found(plural, "", ref["name"])
        return plural, ref["name"], found["metadata"]["uid"]


def _deleted_long_ago(obj: dict[str, Any]) -> bool:
    """Deleted more than 60 s ago (held by a finalizer): its tokens are refused, as upstream refuses them."""
    stamp = obj["metadata"].get("deletionTimestamp")
    return bool(stamp) and time.time() - parse_rfc3339(stamp) > SA_DELETION_GRACE


def _text(obj: Any, key: str) -> str:
    value = obj.get(key, "") if isinstance(obj, dict) else ""
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    return value
