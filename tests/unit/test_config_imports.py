"""The configuration package loads on its own: no cycle with identity; the condition compiler and apscheduler load only when used."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
{first}
from gitopsctl.config import Config, load, parse  # noqa: F401
loaded = sorted(m for m in sys.modules if m.startswith("gitopsctl.") and not m.startswith("gitopsctl.config"))
print(",".join(loaded), "apscheduler" in sys.modules)
"""


@pytest.mark.parametrize("first", ["", "import gitopsctl.identity"], ids=["config first", "identity first"])
def test_config_imports_only_errors_durations_and_identity(first: str) -> None:
    probe = PROBE.format(first=first)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["gitopsctl.durations,gitopsctl.errors,gitopsctl.identity", "False"]
