"""What the benchmarks share: the sandbox cluster as its own process, as `gitopsctl sandbox up` runs it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def sandbox_process(state_dir: Path) -> Iterator[subprocess.Popen]:
    """A sandbox serving from ``state_dir`` (its kubeconfig is ``state_dir / "kubeconfig"``) until the block ends."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gitopsctl", "sandbox", "up", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = server.stdout.readline()
        assert ready.startswith("sandbox ready:"), ready
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)
