"""`gitopsctl demo --headless` (and `gitopsctl demo` without a terminal) is also a test: a release to prod, a bad one rolled back with its numbers, drift healed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import require_helm, require_prometheus


def test_the_headless_demo_behaves_as_it_says():
    require_prometheus()
    require_helm()
    done = subprocess.run(
        [sys.executable, "-m", "gitopsctl", "demo", "--headless"], capture_output=True, text=True, timeout=110
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Promoted: trade-service v1.4.2 in prod, 100% of traffic" in out
    assert "Aborted: success-rate 0." in out and "< 0.95 at 34% traffic" in out
    assert "prod runs v1.4.2 again" in out
    assert "Deployment/trade-service spec.replicas: Git 3, live 5 by kubectl-edit" in out
    assert "drift resolved: trade-service in prod (synced by demo)" in out
    assert "4 apps Healthy in dev, staging, prod" in out, "quote-web, the Helm chart, synced everywhere"
    migrations = re.findall(r"PreSync hook Job trading-(\w+)/trade-service-migrate-[0-9a-f]{8} succeeded in", out)
    assert migrations == ["dev", "staging", "prod"], "the demo's migration hook ran before each first sync"
    prod = [line.split("] ", 1)[1] for line in out.splitlines() if "[trade-service prod] " in line]
    migrated = next(i for i, line in enumerate(prod) if line.startswith("PreRollout hook Job trade-service-migrate-"))
    assert prod[migrated + 1] == "pre-rollout steps passed; the canary is created", "migrated before the canary"
    assert "Deployed: tag: v3.1.0  # gitopsctl deploy writes this line; dev runs v3.1.0" in out
    assert "Traceback" not in out + done.stderr


def test_without_a_terminal_or_prometheus_the_demo_runs_headless_on_the_simulators_json_and_says_so():
    done = subprocess.run(
        [sys.executable, "-m", "gitopsctl", "demo", "--analysis", "web"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=110,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.startswith("no terminal here, so the demo runs headless")
    assert "analysis: the web provider reading the simulator's" in out
    assert "Promoted: trade-service v1.4.2 in prod" in out
    assert re.search(r"Aborted: success-rate 0\.[78]\d* < 0.95 at 34% traffic", out), "measured: about 20% errors"


def test_a_terminated_demo_stops_what_it_started():
    require_prometheus()
    demo = subprocess.Popen(
        [sys.executable, "-m", "gitopsctl", "demo", "--headless"], stdout=subprocess.PIPE, text=True
    )
    try:
        first = demo.stdout.readline()
        url = re.search(r"the real Prometheus server at (http://127\.0\.0\.1:\d+)", first)
        assert url, first
        assert urllib.request.urlopen(f"{url.group(1)}/-/ready", timeout=5).status == 200  # noqa: S310 (127.0.0.1)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 130
    finally:
        demo.kill()
        demo.communicate(timeout=10)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url.group(1)}/-/ready", timeout=5)  # noqa: S310 (127.0.0.1)


def test_asking_for_prometheus_where_it_is_not_installed_is_one_sentence_and_nothing_starts(tmp_path):
    (tmp_path / "git").symlink_to(shutil.which("git"))  # a PATH with git and nothing else
    done = subprocess.run(
        [sys.executable, "-m", "gitopsctl", "demo", "--headless", "--analysis", "prometheus"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(tmp_path)},
    )
    assert done.returncode == 2
    assert done.stderr == "the Prometheus server is not installed: apt-get install prometheus, or use --analysis web\n"
    assert done.stdout == ""
