"""Retries by Kubernetes conventions: 429 honours Retry-After, 5xx back off, other 4xx are not retried."""

from __future__ import annotations

import time

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from gitopsctl.cluster.client import Cluster
from gitopsctl.errors import ApiStatusError, ClusterError, ConflictError, NotFoundError


def failing(*statuses: int, headers: dict[str, str] | None = None):
    """A call that fails with these statuses in turn, then returns "ok"; records each attempt."""
    attempts = []

    def call():
        attempts.append(time.monotonic())
        if len(attempts) <= len(statuses):
            error = ApiException(status=statuses[len(attempts) - 1], reason="x")
            error.headers = headers or {}
            error.body = '{"kind":"Status","message":"the server is busy"}'
            raise error
        return "ok"

    return call, attempts


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_back_off_and_retry(status):
    call, attempts = failing(status, status)
    assert Cluster("ctx").call(call, what="read") == "ok"
    assert len(attempts) == 3
    assert attempts[2] - attempts[1] >= attempts[1] - attempts[0]  # exponential, not constant


def test_429_waits_for_retry_after():
    call, attempts = failing(429, headers={"Retry-After": "1"})
    assert Cluster("ctx").call(call, what="read") == "ok"
    assert attempts[1] - attempts[0] >= 0.95


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, ApiStatusError), (403, ApiStatusError), (404, NotFoundError), (409, ConflictError), (422, ApiStatusError)],
)
def test_other_client_errors_are_not_retried_and_leave_the_cluster_layer_as_our_errors(status, error):
    call, attempts = failing(status)
    with pytest.raises(error, match=r"^cannot read x: the server is busy$") as raised:
        Cluster("ctx").call(call, what="read x")
    assert len(attempts) == 1
    assert raised.value.status == status and not isinstance(raised.value, ApiException)


def test_persistent_server_errors_become_one_clear_sentence():
    call, attempts = failing(503, 503, 503)
    with pytest.raises(ClusterError, match=r"cannot apply x in context ctx: the server is busy \(after 3 attempts\)"):
        Cluster("ctx", attempts=3).call(call, what="apply x")
    assert len(attempts) == 3


def test_dropped_connections_are_retried_then_reported():
    attempts = []

    def call():
        attempts.append(1)
        raise urllib3.exceptions.MaxRetryError(None, "/", "connection refused")

    with pytest.raises(ClusterError, match="cannot reach the cluster of context ctx"):
        Cluster("ctx", attempts=2).call(call, what="list")
    assert len(attempts) == 2


def test_a_bad_kube_context_is_a_clear_error(tmp_path):
    with pytest.raises(ClusterError, match="cannot use kube context 'nowhere'"):
        Cluster("nowhere", tmp_path / "missing-kubeconfig").dynamic  # noqa: B018
