"""Prometheus, through prometheus-api-client, over a session that verifies TLS (see transport.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests import RequestException
from urllib3.util.retry import Retry

from ...config import PrometheusConfig
from ...errors import ConfigError
from . import ProviderError
from .transport import session, tls_problem


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError) as e:
        raise ProviderError(f"Prometheus returned {text!r}, not a number") from e


class PrometheusProvider:
    def __init__(self, url: str, *, timeout: float = 10.0, access: PrometheusConfig | None = None) -> None:
        self.url = url
        self._timeout = timeout
        self._access = access or PrometheusConfig()
        self._client: PrometheusConnect | None = None

    def _connect(self) -> PrometheusConnect:
        """Built on first use, so a credential missing from the environment is a measurement in Error."""
        if self._client is None:
            # one quick retry: the analysis has its own error budget (consecutive_error_limit)
            self._client = PrometheusConnect(
                url=self.url,
                session=session(self._access, credentials=True),
                timeout=max(1, int(self._timeout)),
                retry=Retry(total=1, backoff_factor=0.1),
            )
        return self._client

    def _ask(self, call: Callable[[PrometheusConnect], Any]) -> Any:
        try:
            return call(self._connect())
        except ConfigError as e:
            raise ProviderError(f"Prometheus at {self.url} was not asked: {'; '.join(e.problems)}") from e
        except (PrometheusApiClientException, RequestException, ValueError) as e:
            raise ProviderError(f"Prometheus at {self.url} could not answer: {_reason(e)}") from e

    def measure(self, query: str, at: datetime | None = None) -> Any:
        params = {"timeout": f"{max(1, int(self._timeout))}s"}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        return shape(self._ask(lambda client: client.custom_query(query, params=params)))

    def samples(self, query: str, seconds: float, step: float, end: datetime | None = None) -> list[float]:
        end = end or datetime.now(UTC)
        result = self._ask(
            lambda client: client.custom_query_range(
                query, start_time=end - timedelta(seconds=seconds), end_time=end, step=f"{max(step, 1):g}s"
            )
        )
        values = [_number(v[1]) for series in result or [] for v in series.get("values", [])]
        return [v for v in values if math.isfinite(v)]


def shape(result: Any) -> Any:
    """A query's ``data.result`` shaped as Argo Rollouts shapes it: a scalar is a float; a vector is a list
    with one float per series (``result[0]``), empty when nothing matched; a range vector is all its samples."""
    try:
        if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            return _number(result[1])  # a scalar: [timestamp, "value"]
        if not isinstance(result, list):
            raise ProviderError(f"Prometheus returned {str(result)[:80]!r}, not a result")
        values: list[float] = []
        for series in result:
            if "value" in series:
                values.append(_number(series["value"][1]))
            else:
                values.extend(_number(v[1]) for v in series["values"])
        return values
    except (TypeError, KeyError, IndexError) as e:
        raise ProviderError(f"Prometheus returned a result in no shape it answers in ({type(e).__name__})") from e


def _reason(error: Exception) -> str:
    if problem := tls_problem(error):
        return problem
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]
