"""The README's benchmark table, made from ``bench/results.json``: what ``make bench`` measured, and nothing else.

``python bench/table.py`` prints the table and writes it between the README's
``<!-- bench-table -->`` markers; ``--check`` exits 1 when the README's table is not
the one the results make (a test runs that), so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import RESULTS, load  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- bench-table -->", "<!-- /bench-table -->"
ORDER = (  # the README's order; benchmarks not named here follow, by name
    "sandbox_api",
    "drift_scan",
    "sync_vs_kubectl",
    "abort_latency",
    "slack_ack",
    "drift_latency",
    "git_to_applied",
    "serve_footprint",
    "tui_refresh",
    "tui_diff",
    "demo_timeline",
    "kustomize_parity",
    "chaos_soak",
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(results: dict) -> str:
    names = [n for n in ORDER if n in results] + sorted(n for n in results if n not in ORDER)
    lines = ["| what | figure | target | compared in the same run | reproduce |", "| --- | --- | --- | --- | --- |"]
    missed = []
    for name in names:
        for row in results[name]["rows"]:
            if row["target"] and not row["passed"]:
                missed.append(f"{name} ({row['target']}: {row['figure']})")
            target = row["target"] + ("" if row["passed"] or not row["target"] else " **missed**")
            lines.append(
                "| "
                + " | ".join(
                    _cell(c) for c in (row["what"], row["figure"], target, row["ratio"], f"`{row['command']}`")
                )
                + " |"
            )
    machines = sorted({results[n]["machine"] for n in names})
    dates = sorted(results[n]["measured"] for n in names)
    when = f"{dates[0][:10]} to {dates[-1][:10]}" if dates and dates[0][:10] != dates[-1][:10] else dates[0][:10]
    lines.append("")
    lines.append(f"Measured {when} on {', '.join(machines)}; from `bench/results.json` by `bench/table.py`.")
    lines.append("")
    lines.append(f"Targets missed: {len(missed)}: " + "; ".join(missed) + "." if missed else "Targets missed: none.")
    return "\n".join(lines)


def _with_table(readme: str, made: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md has no {START} ... {END} markers for the benchmark table")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{made}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the README's table differs from the results")
    args = parser.parse_args(argv)
    results = load(RESULTS)
    if not results:
        print(f"no results in {RESULTS}: run make bench first", file=sys.stderr)
        return 1
    made = table(results)
    readme = README.read_text(encoding="utf-8")
    wanted = _with_table(readme, made)
    if args.check:
        if wanted != readme:
            print("README.md's benchmark table is not the one bench/results.json makes: run python bench/table.py")
            return 1
        return 0
    print(made)
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
