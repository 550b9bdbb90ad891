"""`make test-cluster`, run here against a sandbox so the suite for real clusters never rots unseen."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kubesandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]


def test_the_real_cluster_suite_passes_against_a_sandbox_and_cleans_up(tmp_path):
    with Sandbox.start(tmp_path / "cluster") as sandbox:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cluster"],
            cwd=ROOT,
            env={**os.environ, "GITOPSCTL_TEST_KUBECONFIG": str(sandbox.kubeconfig)},
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert re.search(r"\b12 passed\b", summary) and "skipped" not in summary, summary
        left = [
            key
            for key, obj in sandbox.store.all_objects()
            if key == ("", "namespaces") and obj["metadata"].get("labels", {}).get("gitopsctl-test") == "true"
        ]
        assert left == [], "the suite deletes the namespaces it made"
