"""Metric providers behind one Protocol; one module each (as Argo Rollouts' metricproviders)."""

from __future__ import annotations

from typing import Any, Protocol


class ProviderError(Exception):
    """A query that could not be answered; the analysis records it as a Measurement in Error."""


class MetricProvider(Protocol):
    def measure(self, query: str) -> Any:
        """The current value: a float, or a list of floats for a vector. Raises ProviderError."""
        ...

    def samples(self, query: str, seconds: float, step: float) -> list[float]:
        """Values over the last ``seconds`` (for the statistical judge). Raises ProviderError."""
        ...
