"""Benchmarks report one way: a missed target is exit 1, results are stored per benchmark, and the README's table is
the one bench/results.json makes."""

from __future__ import annotations

import json

import pytest

from bench import table
from bench.results import Row, ratio, report


def test_a_missed_target_is_exit_1_and_stored_as_missed(tmp_path, capsys):
    path = tmp_path / "results.json"
    rows = [Row("scan", "0.9 s", "< 2 s"), Row("sync", "6.0 s", "< 5 s", passed=False)]
    assert report("drift_scan", rows, path=path) == 1
    out = capsys.readouterr().out
    assert "sync  6.0 s  target < 5 s  MISSED" in out and "FAIL: 1 target(s) missed: sync" in out
    stored = json.loads(path.read_text())["drift_scan"]["rows"]
    assert [(r["what"], r["passed"], r["command"]) for r in stored] == [
        ("scan", True, ".venv/bin/python bench/drift_scan.py"),
        ("sync", False, ".venv/bin/python bench/drift_scan.py"),
    ]


def test_a_benchmark_replaces_only_its_own_rows(tmp_path):
    path = tmp_path / "results.json"
    assert report("a", [Row("one", "1 s", "< 2 s")], path=path) == 0
    assert report("b", [Row("two", "2 s")], path=path) == 0
    assert report("a", [Row("three", "3 s")], path=path) == 0
    stored = json.loads(path.read_text())
    assert [r["what"] for r in stored["a"]["rows"]] == ["three"] and [r["what"] for r in stored["b"]["rows"]] == ["two"]


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [(1.0, 14.2, "14.2x faster than one GET per object"), (2.0, 1.0, "0.50x: slower than one GET per object")],
)
def test_ratios_say_which_way(ours, theirs, expected):
    assert ratio(ours, theirs, what="one GET per object") == expected


def test_the_table_marks_a_missed_target_and_escapes_pipes(tmp_path):
    path = tmp_path / "results.json"
    report("drift_scan", [Row("a | b", "1 s", "< 0.5 s", passed=False)], path=path)
    made = table.table(json.loads(path.read_text()))
    assert "| a \\| b | 1 s | < 0.5 s **missed** |  | `.venv/bin/python bench/drift_scan.py` |" in made
    assert made.endswith("Targets missed: 1: drift_scan (< 0.5 s: 1 s).")


def test_the_table_says_when_no_target_was_missed(tmp_path):
    path = tmp_path / "results.json"
    report("drift_scan", [Row("scan", "1 s", "< 2 s"), Row("unjudged", "5 s")], path=path)
    assert table.table(json.loads(path.read_text())).endswith("Targets missed: none.")


def test_the_readme_table_is_the_one_the_results_make():
    assert table.main(["--check"]) == 0, "run make bench (or python bench/table.py) and commit README.md"
