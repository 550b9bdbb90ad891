"""Metric providers behind one Protocol and one registry; one module each (as Argo Rollouts' metricproviders).

``PROVIDERS`` is what ``provider_for`` builds from; the configuration checks
names against ``config.PROVIDERS``, and a test holds the two equal. Importing this package is cheap: a
provider's module (and its HTTP client) loads when a template first needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import ProviderError

if TYPE_CHECKING:
    from datetime import datetime

    from ...config import AnalysisTemplate, Config


class MetricProvider(Protocol):
    def measure(self, query: str, at: datetime | None = None) -> Any:
        """The value now (or at ``at``, from history: an analysis replayed): a float, or a list of floats for a
        vector. Raises ProviderError, also for a provider that keeps no history."""
        ...

    def samples(self, query: str, seconds: float, step: float, end: datetime | None = None) -> list[float]:
        """Values over the last ``seconds`` (before ``end``) for the statistical judge. Raises ProviderError."""
        ...


def _prometheus(template: AnalysisTemplate, config: Config) -> MetricProvider:
    if not config.prometheus_url:
        raise ProviderError(f"analysis template {template.name} uses Prometheus but [prometheus] url is not configured")
    from .prometheus import PrometheusProvider

    return PrometheusProvider(config.prometheus_url, access=config.prometheus)


def _web(template: AnalysisTemplate, config: Config) -> MetricProvider:
    from .web import WebProvider

    return WebProvider(template.url or "", access=config.prometheus)


_BUILDERS: dict[str, Callable[[AnalysisTemplate, Config], MetricProvider]] = {"prometheus": _prometheus, "web": _web}
PROVIDERS = tuple(_BUILDERS)  # every provider name, the default first


def provider_for(template: AnalysisTemplate, config: Config) -> MetricProvider:
    """The template's provider, with ``[prometheus]``'s TLS settings (and, for Prometheus, its credentials)."""
    return _BUILDERS[template.provider](template, config)
