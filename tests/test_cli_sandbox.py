"""`gitopsctl sandbox up` as a person runs it."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config


def test_sandbox_up_serves_until_sigterm_and_keeps_its_objects(tmp_path: Path):
    state = tmp_path / "state"

    def start() -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gitopsctl", "sandbox", "up", "--state-dir", str(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = proc.stdout.readline()
        return proc, line

    proc, line = start()
    try:
        match = re.fullmatch(r"sandbox ready: kubeconfig=(\S+) server=(https://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        assert match.group(1) == str(state / "kubeconfig")
        core = k8s.CoreV1Api(kube_config.new_client_from_config(match.group(1)))
        core.create_namespaced_config_map("default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="survivor")))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "sandbox stopped" in out

    proc, line = start()
    try:
        assert line.startswith("sandbox ready:")
        core = k8s.CoreV1Api(kube_config.new_client_from_config(str(state / "kubeconfig")))
        assert core.read_namespaced_config_map("survivor", "default").metadata.name == "survivor"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_sandbox_up_on_a_busy_port_says_what_to_do(tmp_path: Path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "gitopsctl", "sandbox", "up", "--state-dir", str(tmp_path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 2
    assert "cannot start the sandbox" in result.stderr and "choose another --port" in result.stderr


def test_sandbox_up_gives_each_user_a_kubeconfig_that_kubectl_names(tmp_path: Path):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    command = [sys.executable, "-m", "gitopsctl", "sandbox", "up", "--state-dir", str(tmp_path / "state")]
    proc = subprocess.Popen(
        [*command, "--user", "alice@example.com:sre,oncall"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().startswith("sandbox ready:")
        line = proc.stdout.readline()
        assert line == f"user alice@example.com: kubeconfig={tmp_path / 'state' / 'kubeconfig-alice@example.com'}\n"
        whoami = subprocess.run(
            ["kubectl", "--kubeconfig", line.split("kubeconfig=")[1].strip(), "auth", "whoami", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert '"username": "alice@example.com"' in whoami.stdout and '"sre"' in whoami.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)

    bad = subprocess.run([*command, "--user", "$(id)"], capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("sandbox user name '$(id)' is not valid")


def test_sandbox_up_appends_an_audit_event_per_request_to_its_audit_log(tmp_path: Path):
    """The server's own record: who asked what, with which answer; a secret's value never reaches it."""
    audit = tmp_path / "audit.jsonl"
    command = [sys.executable, "-m", "gitopsctl", "sandbox", "up", "--state-dir", str(tmp_path / "state")]
    proc = subprocess.Popen(
        [*command, "--user", "alice", "--audit-log", str(audit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().startswith("sandbox ready:")
        admin = k8s.CoreV1Api(kube_config.new_client_from_config(str(tmp_path / "state" / "kubeconfig")))
        admin.create_namespaced_secret("default", {"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}})
        alice = k8s.CoreV1Api(kube_config.new_client_from_config(str(tmp_path / "state" / "kubeconfig-alice")))
        with pytest.raises(k8s.ApiException):
            alice.read_namespaced_secret("db", "default")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    created = [e for e in events if e["verb"] == "create" and e.get("objectRef", {}).get("resource") == "secrets"]
    refused = [e for e in events if e["user"]["username"] == "alice" and e["verb"] == "get"]
    assert created[0]["responseStatus"]["code"] == 201 and created[0]["user"]["username"] == "sandbox-admin"
    assert refused[0]["responseStatus"]["code"] == 403 and refused[0]["objectRef"]["name"] == "db"
    assert "hunter2" not in audit.read_text() and "aHVudGVyMg" not in audit.read_text()
