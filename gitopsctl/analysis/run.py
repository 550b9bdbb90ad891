"""Taking one measurement of a template: render its query, ask the provider, judge the value.

Never raises for the metric's sake: a provider that fails gives a Measurement in
Error, which the assessment counts against ``consecutive_error_limit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..config import AnalysisTemplate
from .conditions import Condition, compile_condition
from .measurement import ERROR, Limits, Measurement, evaluate
from .providers import MetricProvider, ProviderError
from .providers.prometheus import PrometheusProvider
from .providers.web import WebProvider

PLACEHOLDERS = ("app", "env", "namespace", "track", "canary", "stable")


def render_query(query: str, variables: Mapping[str, str]) -> str:
    """Fill ``{{app}}``, ``{{env}}``, ``{{namespace}}``, ``{{track}}``, ``{{canary}}`` and ``{{stable}}``."""
    for name in PLACEHOLDERS:
        query = query.replace("{{" + name + "}}", variables.get(name, ""))
    return query


@dataclass(frozen=True)
class CompiledTemplate:
    template: AnalysisTemplate
    success: Condition | None
    failure: Condition | None

    @property
    def limits(self) -> Limits:
        t = self.template
        return Limits(t.count, t.failure_limit, t.inconclusive_limit, t.consecutive_error_limit)


def compile_template(template: AnalysisTemplate) -> CompiledTemplate:
    return CompiledTemplate(
        template,
        compile_condition(template.success_condition) if template.success_condition else None,
        compile_condition(template.failure_condition) if template.failure_condition else None,
    )


def provider_for(template: AnalysisTemplate, prometheus_url: str | None) -> MetricProvider:
    if template.provider == "web":
        return WebProvider(template.url or "")
    if not prometheus_url:
        raise ValueError(f"analysis template {template.name} uses Prometheus but [prometheus] url is not configured")
    return PrometheusProvider(prometheus_url)


def measure(
    compiled: CompiledTemplate,
    provider: MetricProvider,
    variables: Mapping[str, str],
    previous: Sequence[Measurement] = (),
    stable: Sequence[float] = (),
) -> Measurement:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = compiled.template.name
    try:
        value = provider.measure(render_query(compiled.template.query, variables))
    except ProviderError as e:
        return Measurement(name, ERROR, None, now, str(e))
    results = [m.value for m in previous if m.phase != ERROR] + [value]
    phase, message = evaluate(value, compiled.success, compiled.failure, results, stable)
    return Measurement(name, phase, value, now, message)
