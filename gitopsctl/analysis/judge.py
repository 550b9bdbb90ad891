"""A statistical judge of canary against stable over the same window (as Kayenta does).

Per metric, a one-sided Mann-Whitney U test in the direction that would hurt
(latency and errors must not increase; a KPI must not decrease), a minimum
sample count, and a check that the canary's variance has not grown. The score is
the share of metrics that pass; thresholds decide Pass, Marginal or Fail. Too few
samples is NoData, which is never a pass.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

PASS, MARGINAL, FAIL, NODATA = "Pass", "Marginal", "Fail", "NoData"
INCREASE, DECREASE, EITHER = "increase", "decrease", "either"


@dataclass(frozen=True)
class MetricVerdict:
    metric: str
    verdict: str  # Pass | Fail | NoData
    p_value: float | None
    canary_mean: float | None
    stable_mean: float | None
    reason: str


@dataclass(frozen=True)
class Judgement:
    verdict: str  # Pass | Marginal | Fail | NoData
    score: float
    metrics: tuple[MetricVerdict, ...]


def judge_metric(
    metric: str,
    canary: Sequence[float],
    stable: Sequence[float],
    *,
    bad: str = INCREASE,
    alpha: float = 0.05,
    min_samples: int = 10,
    max_variance_ratio: float = 4.0,
) -> MetricVerdict:
    """``bad`` is the direction that hurts: ``increase`` (latency, errors), ``decrease`` (a KPI) or ``either``."""
    if len(canary) < min_samples or len(stable) < min_samples:
        return MetricVerdict(
            metric,
            NODATA,
            None,
            None,
            None,
            f"{len(canary)} canary and {len(stable)} stable samples; {min_samples} of each are needed",
        )
    canary_mean, stable_mean = statistics.fmean(canary), statistics.fmean(stable)
    alternative = {INCREASE: "greater", DECREASE: "less", EITHER: "two-sided"}[bad]
    if len(set(canary) | set(stable)) == 1:
        p_value = 1.0  # identical samples: no difference at all
    else:
        from scipy.stats import mannwhitneyu  # imported when judging: scipy is ~50 MB a process

        p_value = float(mannwhitneyu(canary, stable, alternative=alternative).pvalue)
    if p_value < alpha:
        return MetricVerdict(
            metric,
            FAIL,
            p_value,
            canary_mean,
            stable_mean,
            f"canary {canary_mean:.4g} vs stable {stable_mean:.4g}: a significant {bad} (p={p_value:.3g})",
        )
    stable_var, canary_var = statistics.pvariance(stable), statistics.pvariance(canary)
    if stable_var > 0 and canary_var / stable_var > max_variance_ratio:
        return MetricVerdict(
            metric,
            FAIL,
            p_value,
            canary_mean,
            stable_mean,
            f"canary variance is {canary_var / stable_var:.1f}x stable's",
        )
    return MetricVerdict(metric, PASS, p_value, canary_mean, stable_mean, "")


def judge(verdicts: Sequence[MetricVerdict], *, pass_score: float = 95.0, marginal_score: float = 75.0) -> Judgement:
    counted = [v for v in verdicts if v.verdict != NODATA]
    if not counted or len(counted) < len(verdicts):
        return Judgement(NODATA, 0.0, tuple(verdicts))
    score = 100.0 * sum(1 for v in counted if v.verdict == PASS) / len(counted)
    verdict = PASS if score >= pass_score else MARGINAL if score >= marginal_score else FAIL
    return Judgement(verdict, score, tuple(verdicts))
