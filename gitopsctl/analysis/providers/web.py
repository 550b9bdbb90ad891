"""A web endpoint returning JSON: GET a URL and take the value at a path (``data.success_rate``, ``items[0].p99``).

As Argo Rollouts' web provider, the value is whatever JSON is there (a number,
a string, a list, an object) for the conditions to read, numbers as Go decodes
them (floats); a body that is not JSON is one string.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from requests import RequestException

from ...config import PrometheusConfig
from . import ProviderError
from .transport import session, tls_problem

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def extract(document: Any, path: str) -> Any:
    """The value at a dotted path with list indexes; Argo's ``{$.data.ok}`` form is accepted too."""
    node = document
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    for name, index in _PART.findall(path.removeprefix("$").lstrip(".")):
        try:
            node = node[int(index)] if index else node[name]
        except (KeyError, IndexError, TypeError) as e:
            raise ProviderError(f"the response has nothing at {path!r}") from e
    return node


class WebProvider:
    """``query`` is the JSON path; the URL comes from the template (http or https only).

    Its TLS is verified as ``[prometheus]`` says; Prometheus' credentials are never sent to it.
    """

    def __init__(self, url: str, *, timeout: float = 10.0, access: PrometheusConfig | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the web provider only fetches http:// or https:// URLs")
        self.url = url
        self.timeout = timeout
        self._session = session(access or PrometheusConfig(), credentials=False)

    def _fetch(self) -> Any:
        try:
            with self._session.get(self.url, timeout=self.timeout, stream=True) as response:
                response.raise_for_status()
                body = response.raw.read(1_000_001, decode_content=True)
        except (RequestException, OSError) as e:
            raise ProviderError(f"{self.url} could not be read: {tls_problem(e) or e}") from e
        if len(body) > 1_000_000:
            raise ProviderError(f"{self.url} answered more than 1 MB")
        text = body.decode("utf-8", errors="replace")
        try:
            return json.loads(text, parse_int=float, parse_constant=float)
        except (ValueError, RecursionError):
            return text

    def measure(self, query: str, at: datetime | None = None) -> Any:
        if at is not None:
            raise ProviderError(f"{self.url} answers only for now: a web metric has no history to replay")
        return extract(self._fetch(), query)

    def samples(self, query: str, seconds: float, step: float, end: datetime | None = None) -> list[float]:
        value = self.measure(query, end)
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise ProviderError(f"the value at {query!r} is {value!r}, not numbers")
        return [float(v) for v in values]
