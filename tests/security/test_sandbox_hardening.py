"""The sandbox's own boundary: a stranger's request body is never read, and its files are its owner's alone."""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config

from kubesandbox import Sandbox
from tests.conftest import fast_timing

HUGE = 1_000_000_000  # a body no test ever sends: only a server that waits for it would hang


def _headers_only(sb: Sandbox, request: str) -> tuple[str, dict]:
    """Send a request's head and no body; return the status line and JSON body of the answer (5 s at most)."""
    context = ssl.create_default_context(cafile=str(sb.ca_path))
    with (
        socket.create_connection(("127.0.0.1", sb.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(request.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = tls.recv(65536)
            assert chunk, f"the server hung up without answering: {received!r}"
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = int(next(line.split(":", 1)[1] for line in lines if line.lower().startswith("content-length:")))
        while len(body) < length:
            body += tls.recv(65536)
        return lines[0], json.loads(body) if body.startswith(b"{") else {"text": body.decode()}


def _configmaps(sb: Sandbox) -> list[str]:
    core = k8s.CoreV1Api(kube_config.new_client_from_config(str(sb.kubeconfig)))
    return [cm.metadata.name for cm in core.list_namespaced_config_map("default").items]


@pytest.mark.parametrize(
    "extra",
    [
        "Authorization: Bearer not-a-token\r\n",
        "",
        "Authorization: Basic YTpi\r\n",
        "Authorization: Bearer not-a-token\r\nExpect: 100-continue\r\n",  # no "100 Continue" invites the body
    ],
)
def test_a_stranger_gets_401_before_sending_the_body(sandbox, extra):
    status, body = _headers_only(
        sandbox,
        "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\n{extra}Content-Type: application/json\r\nContent-Length: {HUGE}\r\n\r\n",
    )
    assert status == "HTTP/1.1 401 Unauthorized"
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Unauthorized", 401)
    assert _configmaps(sandbox) == []


def test_a_public_path_never_reads_a_body_either(sandbox):
    status, body = _headers_only(
        sandbox, f"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {HUGE}\r\n\r\n"
    )
    assert (status, body) == ("HTTP/1.1 200 OK", {"text": "ok"})


def test_a_known_token_still_sends_its_body(sandbox):
    payload = json.dumps({"metadata": {"name": "kept"}})
    status, body = _headers_only(
        sandbox,
        "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {sandbox.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n{payload}",
    )
    assert status == "HTTP/1.1 201 Created" and body["metadata"]["name"] == "kept"
    assert _configmaps(sandbox) == ["kept"]


def _modes(state_dir) -> dict[str, int]:
    found = {".": stat.S_IMODE(os.stat(state_dir).st_mode)}
    found |= {p.name: stat.S_IMODE(p.stat().st_mode) for p in state_dir.iterdir()}
    return found


def test_the_state_dir_is_0700_and_every_file_0600(tmp_path):
    with Sandbox.start(tmp_path / "cluster", timing=fast_timing(), users={"alice": ["team-a"]}) as sb:
        sb.add_user("bob")
        core = k8s.CoreV1Api(kube_config.new_client_from_config(str(sb.kubeconfig)))
        core.create_namespaced_secret("default", {"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}})
        modes = _modes(sb.state_dir)
    assert {"objects.jsonl", "token", "users.json", "server.key", "kubeconfig", "kubeconfig-bob"} <= modes.keys()
    assert modes == {".": 0o700} | {name: 0o600 for name in modes if name != "."}


def test_a_restart_narrows_a_state_dir_an_older_sandbox_left_open(tmp_path):
    state = tmp_path / "cluster"
    with Sandbox.start(state, timing=fast_timing(), users={"alice": []}) as sb:
        core = k8s.CoreV1Api(kube_config.new_client_from_config(str(sb.kubeconfig)))
        core.create_namespaced_secret("default", {"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}})
    os.chmod(state, 0o755)  # noqa: S103 - the old sandbox's mode, which the restart must narrow
    for path in state.iterdir():
        os.chmod(path, 0o644)

    with Sandbox.start(state, timing=fast_timing()) as sb:
        modes = _modes(state)
        core = k8s.CoreV1Api(kube_config.new_client_from_config(str(sb.kubeconfig)))
        assert core.read_namespaced_secret("db", "default").data["password"] == "aHVudGVyMg=="
    assert modes == {".": 0o700} | {name: 0o600 for name in modes if name != "."}
    assert len(modes) > 8


def test_a_known_token_asking_to_continue_is_told_to_send_its_body(sandbox):
    payload = json.dumps({"metadata": {"name": "kept"}}).encode()
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    with (
        socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {sandbox.token}\r\nExpect: 100-continue\r\n".encode()
            + f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        )
        assert tls.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")
        tls.sendall(payload)
        assert tls.recv(65536).startswith(b"HTTP/1.1 201 Created\r\n")
    assert _configmaps(sandbox) == ["kept"]
