"""What every benchmark reports, one way: each figure with its target and, where there is one, the alternative
measured in the same run as a ratio; a missed target makes the benchmark exit 1.

A benchmark builds ``Row``s and ends with ``sys.exit(report("drift_scan", rows))``: the rows are printed as a
table and stored under the benchmark's name in ``bench/results.json`` (with the machine and the time), replacing
that benchmark's earlier rows only. ``bench/table.py`` prints the table of every benchmark from that file and
writes it into the README, so the README shows what was measured, not what someone typed.

Ratios, not absolute times, are what hold on a noisy 2-core machine: the alternative runs in the same process
moments apart, so both see the same machine.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# GITOPSCTL_BENCH_RESULTS: another file, for a trial run that must not replace what make bench measured
RESULTS = Path(os.environ.get("GITOPSCTL_BENCH_RESULTS") or Path(__file__).resolve().parent / "results.json")


@dataclass(frozen=True)
class Row:
    what: str  # literally what was measured: "cold" only for a new process with a new cache directory
    figure: str  # the measurement as people read it, e.g. "0.96 s" or "p99 83 ms"
    target: str = ""  # e.g. "< 2 s"; empty: reported, not judged
    ratio: str = ""  # against the alternative measured in the same run, e.g. "14.2x faster than one GET per object"
    passed: bool = True  # False: the target was missed, and the benchmark exits 1
    command: str = ""  # how to reproduce this row; the benchmark's own command when empty


def report(benchmark: str, rows: list[Row], *, command: str | None = None, path: Path = RESULTS) -> int:
    """Print ``rows``, store them as ``benchmark``'s results; the exit code: 1 when any row missed its target."""
    command = command or f".venv/bin/python bench/{benchmark}.py"
    rows = [row if row.command else Row(**{**asdict(row), "command": command}) for row in rows]
    print(f"\n{benchmark}")
    width = max(len(row.what) for row in rows)
    for row in rows:
        verdict = "" if not row.target else ("  ok" if row.passed else "  MISSED")
        target = f"  target {row.target}" if row.target else ""
        ratio = f"  [{row.ratio}]" if row.ratio else ""
        print(f"  {row.what:<{width}}  {row.figure}{target}{ratio}{verdict}")
    stored = load(path)
    stored[benchmark] = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "rows": [asdict(row) for row in rows],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    missed = [row.what for row in rows if not row.passed]
    if missed:
        print(f"  FAIL: {len(missed)} target(s) missed: {'; '.join(missed)}")
    return 1 if missed else 0


def load(path: Path = RESULTS) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def ratio(ours: float, theirs: float, *, what: str, lower_is_better: bool = True) -> str:
    """``theirs / ours`` as people say it: "14.2x faster than WHAT" (or "0.8x, slower than WHAT")."""
    if ours <= 0 or theirs <= 0:
        return f"no ratio against {what} (a zero measurement)"
    factor = theirs / ours if lower_is_better else ours / theirs
    if factor >= 1:
        return f"{factor:.1f}x {'faster' if lower_is_better else 'more'} than {what}"
    return f"{factor:.2f}x: {'slower' if lower_is_better else 'less'} than {what}"
