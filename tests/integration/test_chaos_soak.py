"""60 seconds of the chaos soak (bench/chaos_soak.py) in every `make test`: zero invariant violations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_prometheus

SOAK = Path(__file__).resolve().parents[2] / "bench" / "chaos_soak.py"


@pytest.mark.timeout(600)
def test_a_minute_of_chaos_leaves_every_invariant_intact(tmp_path):
    require_prometheus()
    results = tmp_path / "results.json"  # not the repository's: that holds what make bench measured
    done = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "60"],
        capture_output=True,
        text=True,
        timeout=590,
        env={**os.environ, "GITOPSCTL_BENCH_RESULTS": str(results)},
    )
    out = done.stdout + done.stderr
    assert "invariants: 8 checked, violations: 0" in done.stdout, out
    assert done.returncode == 0, out
    # the chaos happened: faults of several kinds, releases good and bad, canaries both ways
    assert "faults serve:" in out or "faults 503:" in out, out
    assert "rollouts Promoted:" in out or "rollouts Aborted:" in out, out
    assert json.loads(results.read_text())["chaos_soak"]["rows"][0]["passed"] is True
