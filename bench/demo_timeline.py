"""How long a newcomer waits: `gitopsctl demo --headless` as its own process, each milestone timed from the start.

Milestones are read from the demo's own output as it prints them: everything
synced, the good version promoted in prod, the bad one rolled back, the
hand-made change reported, healed, and everything stopped. Target (issue 8): a
canary release, an automatic rollback and a drift report within a minute.
Run: .venv/bin/python bench/demo_timeline.py [--analysis prometheus|web]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

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
    for run in range(args.runs):
        started = time.monotonic()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as demo:
            assert demo.stdout is not None
            for line in demo.stdout:
                for marker, label in MILESTONES:
                    if marker in line and len(rows[label]) == run:
                        rows[label].append(time.monotonic() - started)
            if demo.wait(timeout=300) != 0:
                print(f"run {run + 1}: the demo failed (exit {demo.returncode})")
                return 1
    print(f"gitopsctl demo --headless{' --analysis ' + args.analysis if args.analysis else ''}, {args.runs} runs")
    for _, label in MILESTONES:
        times = rows[label]
        print(f"  {label:<48} " + ", ".join(f"{t:5.1f} s" for t in times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
