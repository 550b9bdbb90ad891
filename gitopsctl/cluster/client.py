"""One environment's cluster through the official ``kubernetes`` client.

Retries follow Kubernetes conventions: 429 waits for ``Retry-After``; 500, 502,
503 and 504 and dropped connections back off exponentially (tenacity); every
other 4xx is the caller's to handle and is never retried. 409 on an optimistic
update is handled where the read-modify-write happens (see records.py).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as kube_config
from kubernetes import dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity import Retrying as TenacityRetrying

from ..errors import ApiStatusError, ClusterError, ConflictError, NotFoundError

FIELD_MANAGER = "gitopsctl"
T = TypeVar("T")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_backoff = wait_exponential(multiplier=0.2, max=5)


def _plain(_client: Any, data: Any) -> Any:
    """DynamicClient serializer that keeps the JSON as dicts (its wrappers cost more than the request)."""
    return data


def _retryable(error: BaseException) -> bool:
    if isinstance(error, ApiException):
        return error.status in _RETRY_STATUSES
    return isinstance(error, urllib3.exceptions.HTTPError | ConnectionError)


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, ApiException) and error.status == 429:
        headers = error.headers or {}
        try:
            return min(30.0, float(headers.get("Retry-After", 1)))
        except (TypeError, ValueError):
            return 1.0
    return _backoff(state)


def status_of(error: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return body if isinstance(body, dict) else {}


def message_of(error: ApiException) -> str:
    return status_of(error).get("message") or error.reason or f"HTTP {error.status}"


IN_CLUSTER = "in-cluster"
CONNECTIONS = 64  # kept per cluster (the client's default is 5 per core): the console's watches, workers and calls


def _api_client(context: str, kubeconfig: Path | None) -> k8s_client.ApiClient:
    """The context from a kubeconfig, or with ``context = "in-cluster"`` the pod's service account."""
    configuration = k8s_client.Configuration()
    configuration.connection_pool_maxsize = CONNECTIONS  # watches hold theirs; calls still reuse a kept-alive one
    if context == IN_CLUSTER:
        kube_config.load_incluster_config(client_configuration=configuration)
        return k8s_client.ApiClient(configuration)
    return kube_config.new_client_from_config(
        config_file=str(kubeconfig) if kubeconfig else None, context=context, client_configuration=configuration
    )


class Cluster:
    """A kube context: discovery, get/list/apply/delete with retries, and a request count."""

    def __init__(self, context: str, kubeconfig: Path | None = None, *, attempts: int = 5) -> None:
        self.context = context
        self.kubeconfig = kubeconfig
        self.attempts = attempts
        self.requests = 0
        self._lock = threading.Lock()
        self._api: k8s_client.ApiClient | None = None
        self._client: dynamic.DynamicClient | None = None
        self._resources: dict[tuple[str, str], Any] = {}
        self._whoami: tuple[str, tuple[str, ...]] | None = None

    # ---------------------------------------------------------------- plumbing

    @property
    def api_client(self) -> k8s_client.ApiClient:
        if self._api is None:
            try:
                self._api = _api_client(self.context, self.kubeconfig)
            except (ConfigException, OSError, TypeError) as e:
                raise ClusterError(
                    f"cannot use kube context {self.context!r}: {e}; check the environment's context and kubeconfig"
                ) from e
        return self._api

    @property
    def dynamic(self) -> dynamic.DynamicClient:
        if self._client is None:
            api_client = self.api_client
            self._client = self.call(lambda: dynamic.DynamicClient(api_client), what="discover the API")
        return self._client

    def whoami(self) -> tuple[str, tuple[str, ...]]:
        """(username, groups) the cluster says this context's credentials are, as ``kubectl auth whoami`` shows.

        Asked once per Cluster (a SelfSubjectReview; no discovery needed): identity comes
        from the credentials the cluster verified, never from what someone typed.
        """
        if self._whoami is None:
            auth = k8s_client.AuthenticationV1Api(self.api_client)
            try:
                review = self.call(
                    lambda: auth.create_self_subject_review(body=k8s_client.V1SelfSubjectReview()),
                    what="learn who you are",
                    count=True,
                )
            except ApiStatusError as e:
                why = " (SelfSubjectReview needs Kubernetes 1.28 or later)" if e.status in (404, 405) else ""
                raise ClusterError(
                    f"the cluster behind context {self.context} would not say who you are{why}: {e.message}"
                ) from e
            user = review.status.user_info if review.status else None
            if user is None or not user.username:
                raise ClusterError(f"the cluster behind context {self.context} answered who you are with no user name")
            self._whoami = (user.username, tuple(user.groups or ()))
        return self._whoami

    def call(self, fn: Callable[[], T], *, what: str, count: bool = False) -> T:
        """Run one API call with retries; unreachable clusters and 5xx after retries become ClusterError."""
        retrying = TenacityRetrying(
            retry=retry_if_exception(_retryable), wait=_wait, stop=stop_after_attempt(self.attempts), reraise=True
        )
        try:
            for attempt in retrying:
                with attempt:
                    if count:
                        with self._lock:
                            self.requests += 1
                    return fn()
        except ApiException as e:
            if e.status in _RETRY_STATUSES:
                raise ClusterError(
                    f"cannot {what} in context {self.context}: {message_of(e)} (after {self.attempts} attempts)"
                ) from e
            error = {404: NotFoundError, 409: ConflictError}.get(e.status, ApiStatusError)
            raise error(e.status, message_of(e), what) from e
        except (urllib3.exceptions.HTTPError, ConnectionError) as e:
            raise ClusterError(
                f"cannot reach the cluster of context {self.context} to {what}: {type(e).__name__}"
            ) from e
        raise AssertionError("unreachable")

    def resource(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        if key not in self._resources:
            what = f"look up {kind} in {api_version}"
            lookup = lambda: self.dynamic.resources.get(api_version=api_version, kind=kind)  # noqa: E731
            try:
                self._resources[key] = self.call(lookup, what=what)  # discovery fails as any call does
            except ResourceNotFoundError:
                self.dynamic.resources.invalidate_cache()
                try:
                    self._resources[key] = self.call(lookup, what=what)
                except ResourceNotFoundError as e:
                    raise ClusterError(
                        f"the cluster of context {self.context} does not serve {kind} in {api_version}; is its CRD installed?"
                    ) from e
        return self._resources[key]

    def forget_discovery(self) -> None:
        """After a CRD is applied its kinds appear; look them up afresh."""
        self._resources.clear()
        if self._client is not None:
            self._client.resources.invalidate_cache()

    def namespaced(self, api_version: str, kind: str) -> bool:
        return bool(self.resource(api_version, kind).namespaced)

    # ------------------------------------------------------------------- verbs

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        resource = self.resource(api_version, kind)
        try:
            return self.call(
                lambda: resource.get(name=name, namespace=namespace or None, serializer=_plain),
                what=f"read {kind} {name}",
                count=True,
            )
        except NotFoundError:
            return None

    def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        return self.listing(api_version, kind, namespace, label_selector)[0]

    def listing(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """The items and the list's resourceVersion, to watch from ("" when the namespace does not exist)."""
        resource = self.resource(api_version, kind)
        try:
            listed = self.call(
                lambda: resource.get(
                    namespace=namespace or None,
                    label_selector=label_selector,
                    field_selector=field_selector,
                    serializer=_plain,
                ),
                what=f"list {kind}",
                count=True,
            )
        except NotFoundError:
            return [], ""
        items = listed.get("items") or []
        for item in items:  # list items may omit these; the engine always wants them
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items, (listed.get("metadata") or {}).get("resourceVersion") or ""

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False, force: bool = True) -> dict[str, Any]:
        """Server-side apply as ``gitopsctl``; Git is the truth, so conflicts are forced by default."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace") if resource.namespaced else None
        return self.call(
            lambda: resource.server_side_apply(
                body=obj,
                name=obj["metadata"]["name"],
                namespace=namespace,
                field_manager=FIELD_MANAGER,
                force_conflicts=force,
                dry_run="All" if dry_run else None,
                serializer=_plain,
            ),
            what=f"apply {obj['kind']} {obj['metadata']['name']}",
            count=True,
        )

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        dry_run: bool = False,
        resource_version: str | None = None,
    ) -> bool:
        """Delete; False when it is already gone. With ``resource_version``, only the object as read then
        (``ConflictError`` when it changed since)."""
        resource = self.resource(api_version, kind)
        body = {"preconditions": {"resourceVersion": resource_version}} if resource_version else None
        try:
            self.call(
                lambda: resource.delete(
                    name=name,
                    namespace=namespace or None,
                    body=body,
                    propagation_policy="Background",
                    dry_run="All" if dry_run else None,
                    serializer=_plain,
                ),
                what=f"delete {kind} {name}",
                count=True,
            )
        except NotFoundError:
            return False
        return True

    def patch(
        self, api_version: str, kind: str, name: str, namespace: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A strategic merge patch as ``gitopsctl`` (built-in kinds only)."""
        resource = self.resource(api_version, kind)
        return self.call(
            lambda: resource.patch(
                body=body,
                name=name,
                namespace=namespace,
                field_manager=FIELD_MANAGER,
                content_type="application/strategic-merge-patch+json",
                serializer=_plain,
            ),
            what=f"patch {kind} {name}",
            count=True,
        )

    def ensure_namespace(self, namespace: str) -> None:
        """Create ``namespace`` if it is missing (records, locks and requests live there before any sync)."""
        if self.get("v1", "Namespace", namespace, None) is not None:
            return
        with contextlib.suppress(ConflictError):  # someone created it in between
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        return self.call(
            lambda: resource.replace(body=obj, namespace=obj["metadata"].get("namespace"), serializer=_plain),
            what=f"update {obj['kind']} {obj['metadata']['name']}",
            count=True,
        )

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        return self.call(
            lambda: resource.create(body=obj, namespace=obj["metadata"].get("namespace"), serializer=_plain),
            what=f"create {obj['kind']} {obj['metadata']['name']}",
            count=True,
        )
