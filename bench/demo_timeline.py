"""How long a newcomer waits: `gitopsctl demo --headless` as its own process, each milestone timed from the start.

Milestones are read from the demo's own output as it prints them: everything
synced, the good version promoted in prod, the bad one rolled back, the
hand-made change reported, healed, and everything stopped. Target (issue 8): a
canary release, an automatic rollback and a drift report within a minute (every
run). The rows say what the canary analysis judged, from the demo's own
"analysis:" line:
- prometheus: the real Prometheus server scraping the traffic simulator's request
  counters, a measurement of the requests the simulator served.
- web: the web provider reading the simulator's /stats.json, whose success_rate
  is counted from the requests each track served in the last 3 s
  (standins/traffic.py), a measurement too, without Prometheus' scrape delay.
Run: .venv/bin/python bench/demo_timeline.py [--analysis prometheus|web]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import Row, report  # noqa: E402

TARGET = 60.0
JUDGED = ("the good version promoted in prod (canary)", "the bad version rolled back automatically")
JUDGED += ("the hand-made change reported",)

MILESTONES = [
    ("apps Healthy in dev, staging, prod", "every app synced into every environment"),
    ("Promoted: trade-service", "the good version promoted in prod (canary)"),
    ("Aborted: success-rate", "the bad version rolled back automatically"),
    ("drift report: trade-service in prod", "the hand-made change reported"),
    ("drift resolved: trade-service in prod", "healed"),
    ("everything stopped", "everything stopped"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analysis", choices=("prometheus", "web"), default=None)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    command = [sys.executable, "-m", "gitopsctl", "demo", "--headless"]
    if args.analysis:
        command += ["--analysis", args.analysis]
    rows: dict[str, list[float]] = {label: [] for _, label in MILESTONES}
    analysis_lines: set[str] = set()
    for run in range(args.runs):
        started = time.monotonic()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as demo:
            assert demo.stdout is not None
            for line in demo.stdout:
                if line.startswith("analysis: "):
                    said = re.sub(r" at http://127\.0\.0\.1:\d+", "", line.removeprefix("analysis: ").strip())
                    analysis_lines.add(re.sub(r"http://127\.0\.0\.1:\d+", "", said))
                for marker, label in MILESTONES:
                    if marker in line and len(rows[label]) == run:
                        rows[label].append(time.monotonic() - started)
            if demo.wait(timeout=300) != 0:
                print(f"run {run + 1}: the demo failed (exit {demo.returncode})")
                return 1
    shown = "gitopsctl demo --headless" + (f" --analysis {args.analysis}" if args.analysis else "")
    analysis = judged(analysis_lines)
    results = []
    for _, label in MILESTONES:
        times = rows[label]
        if len(times) != args.runs:
            print(f"the milestone {label!r} was seen in {len(times)} of {args.runs} runs")
            return 1
        target = label in JUDGED
        results.append(
            Row(
                what=f"`{shown}` (a new process), start to: {label}; canary analysis: {analysis}",
                figure=", ".join(f"{t:.1f} s" for t in times) + f" ({args.runs} runs)",
                target=f"every run < {TARGET:g} s" if target else "",
                passed=not target or max(times) < TARGET,
            )
        )
    name = "demo_timeline" if args.analysis is None else f"demo_timeline_{args.analysis}"
    command = ".venv/bin/python bench/demo_timeline.py" + (f" --analysis {args.analysis}" if args.analysis else "")
    return report(name, results, command=command)


def judged(lines: set[str]) -> str:
    """What the canary analysis judged, from the demo's own "analysis:" line(s)."""
    if not lines:
        return "unknown (the demo printed no analysis line)"
    said = "; ".join(sorted(lines))
    if any("web provider" in line for line in lines):
        return f"{said} (the success rate of the requests each track served in the last 3 s)"
    if any("Prometheus" in line for line in lines):
        return f"{said} (a measurement of the simulator's request counters)"
    return said


if __name__ == "__main__":
    sys.exit(main())
