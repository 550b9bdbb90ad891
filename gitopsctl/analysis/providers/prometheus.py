"""Prometheus, through prometheus-api-client."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests import RequestException
from urllib3.util.retry import Retry

from . import ProviderError


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError) as e:
        raise ProviderError(f"Prometheus returned {text!r}, not a number") from e


class PrometheusProvider:
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        # one quick retry: the analysis has its own error budget (consecutive_error_limit)
        self._client = PrometheusConnect(
            url=url, disable_ssl=True, timeout=max(1, int(timeout)), retry=Retry(total=1, backoff_factor=0.1)
        )
        self._timeout = timeout

    def measure(self, query: str) -> Any:
        """A scalar query gives a float; a vector gives one float per series (an empty vector gives [])."""
        try:
            result = self._client.custom_query(query, params={"timeout": f"{max(1, int(self._timeout))}s"})
        except (PrometheusApiClientException, RequestException, ValueError) as e:
            raise ProviderError(f"Prometheus at {self.url} could not answer: {_reason(e)}") from e
        if isinstance(result, list) and result and isinstance(result[0], dict):
            values = [_number(series["value"][1]) for series in result]
            return values[0] if len(values) == 1 else values
        if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            return _number(result[1])  # a scalar: [timestamp, "value"]
        return []

    def samples(self, query: str, seconds: float, step: float) -> list[float]:
        end = datetime.now(UTC)
        try:
            result = self._client.custom_query_range(
                query, start_time=end - timedelta(seconds=seconds), end_time=end, step=f"{max(step, 1):g}s"
            )
        except (PrometheusApiClientException, RequestException, ValueError) as e:
            raise ProviderError(f"Prometheus at {self.url} could not answer: {_reason(e)}") from e
        values = [_number(v[1]) for series in result or [] for v in series.get("values", [])]
        return [v for v in values if math.isfinite(v)]


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]
