"""Taking one measurement of a template: render its query, ask the provider, judge the value.

Never raises for the metric's sake: a provider that fails gives a Measurement in
Error, which the assessment counts against ``consecutive_error_limit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..config import AnalysisTemplate
from .conditions import compile_condition
from .judge import FAIL, PASS, MetricVerdict, judge_metric
from .measurement import ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL, Judgement, Limits, Measurement, evaluate
from .providers import MetricProvider, ProviderError

PLACEHOLDERS = ("app", "env", "namespace", "track", "canary", "stable")


def render_query(query: str, variables: Mapping[str, str]) -> str:
    """Fill ``{{app}}``, ``{{env}}``, ``{{namespace}}``, ``{{track}}``, ``{{canary}}`` and ``{{stable}}``."""
    for name in PLACEHOLDERS:
        query = query.replace("{{" + name + "}}", variables.get(name, ""))
    return query


@dataclass(frozen=True)
class CompiledTemplate:
    template: AnalysisTemplate
    judgement: Judgement

    @property
    def limits(self) -> Limits:
        t = self.template
        return Limits(t.count, t.failure_limit, t.inconclusive_limit, t.consecutive_error_limit)


def compile_template(template: AnalysisTemplate) -> CompiledTemplate:
    """Conditions compiled once; a judge template may have none."""
    return CompiledTemplate(
        template,
        Judgement(
            compile_condition(template.success_condition) if template.success_condition else None,
            compile_condition(template.failure_condition) if template.failure_condition else None,
            typed=template.provider == "prometheus",
            argo_compatible_nan=template.argo_compatible_nan,
        ),
    )


def measure(
    compiled: CompiledTemplate,
    provider: MetricProvider,
    variables: Mapping[str, str],
    previous: Sequence[Measurement] = (),
    at: datetime | None = None,
) -> Measurement:
    """One measurement of the canary (``variables["track"]``); stable's samples are fetched when the template compares.
    ``at``: as Prometheus's history has it then (an analysis replayed), else now."""
    now = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # intervals may be under a second apart
    template = compiled.template
    name = template.name
    stable_vars = {**variables, "track": "stable"}
    step = max(1.0, template.interval)
    try:
        if template.judge:
            canary = provider.samples(render_query(template.query, variables), template.window, step, at)
            stable = provider.samples(render_query(template.query, stable_vars), template.window, step, at)
            return _judged(
                name, now, judge_metric(name, canary, stable, bad=template.judge, min_samples=template.min_samples)
            )
        value = provider.measure(render_query(template.query, variables), at)
        stable = (
            provider.samples(render_query(template.query, stable_vars), template.window, step, at)
            if template.uses_stable
            else []
        )
    except ProviderError as e:
        return Measurement(name, ERROR, None, now, str(e))
    results = [m.value for m in previous if m.phase != ERROR] + [value]
    phase, message = evaluate(value, compiled.judgement, results, stable)
    return Measurement(name, phase, value, now, message)


def _judged(name: str, now: str, verdict: MetricVerdict) -> Measurement:
    """A statistical verdict as a measurement: Pass is Successful, Fail is Failed, NoData is Inconclusive."""
    phase = {PASS: SUCCESSFUL, FAIL: FAILED}.get(verdict.verdict, INCONCLUSIVE)
    return Measurement(name, phase, verdict.p_value, now, verdict.reason)
