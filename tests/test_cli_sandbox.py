"""`gitopsctl sandbox up` and `gitopsctl demo` as a person runs them."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as kube_config

from gitopsctl.sandbox import demo


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


def test_the_demo_syncs_finds_hand_made_drift_and_heals_it(tmp_path: Path):
    import io

    out = io.StringIO()
    assert demo.run(out=out, state_dir=tmp_path) == 0, out.getvalue()
    text = out.getvalue()
    assert "Succeeded: pricing-api in prod: applied 2, version v2.0.0, Healthy" in text
    assert re.search(r"trade-service\s+3/3", text)
    assert "spec.replicas: 3 (git) != 5 (live)" in text
    assert 'data.LOG_LEVEL: "info" (git) != "trace" (live)' in text
    assert "Succeeded: trade-service in prod" in text
    assert "clean: trade-service/prod, pricing-api/prod, ledger-worker/prod" in text
    assert "sandbox stopped" in text
