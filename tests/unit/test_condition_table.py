"""docs/analysis.md's table of conditions, run row by row: what it says gitopsctl decides is what gitopsctl decides.

The table's Argo Rollouts column is checked against the ``argo_compatible_nan``
column: they must agree except on rows marked † (gitopsctl's documented
leniencies), so the compatible mode is proven to give Argo's outcome on every
other listed expression.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitopsctl.analysis.conditions import ConditionError
from gitopsctl.analysis.trial import read_result, try_conditions

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"
PHASES = {"Successful", "Failed", "Inconclusive", "Error", "refused"}


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [c.strip().replace("\\|", "|") for c in cells]


def _code(cell: str) -> str | None:
    return cell.strip("`") if cell else None


def rows() -> list[tuple[str | None, str | None, str, str, str, str, str]]:
    text = DOC.read_text()
    table = text.split("<!-- conditions-table: start -->")[1].split("<!-- conditions-table: end -->")[0]
    found = []
    for line in table.strip().splitlines()[2:]:
        success, failure, provider, result, argo, default, compatible = _cells(line)
        found.append((_code(success), _code(failure), provider, result.strip("`"), argo, default, compatible))
    return found


def judge(success, failure, provider, result, *, compatible: bool) -> str:
    try:
        return try_conditions(
            success, failure, read_result(result, provider), provider=provider, argo_compatible_nan=compatible
        ).phase
    except ConditionError:
        return "refused"


def test_the_table_is_there_and_covers_the_outcomes():
    found = rows()
    assert len(found) >= 40
    for row in found:
        assert {row[4].rstrip(" †"), row[5], row[6]} <= PHASES, row
    assert {r[5] for r in found} == PHASES  # every outcome is shown at least once


@pytest.mark.parametrize(("success", "failure", "provider", "result", "argo", "default", "compatible"), rows())
def test_each_row_is_decided_as_the_table_says(success, failure, provider, result, argo, default, compatible):
    assert judge(success, failure, provider, result, compatible=False) == default
    assert judge(success, failure, provider, result, compatible=True) == compatible
    if not argo.endswith("†"):
        # a refusal at config check stands for Argo's Error at every measurement
        assert compatible == argo or (compatible == "refused" and argo == "Error")
