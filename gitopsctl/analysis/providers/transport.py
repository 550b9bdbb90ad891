"""The HTTP session the providers query through: certificates verified unless the configuration says otherwise.

A man in the middle of the analysis could feed good numbers to a bad canary, so
TLS is checked by default (the system's CAs, or ``[prometheus] ca_file``);
``insecure_skip_verify = true`` is an explicit, logged opt-out. Credentials come
from the environment only, and only the Prometheus provider sends them.
"""

from __future__ import annotations

import functools
import logging
import re

import requests
from requests.auth import HTTPBasicAuth

from ...config import PrometheusConfig

log = logging.getLogger(__name__)
_VERIFY_FAILED = re.compile(r"certificate verify failed: ([^(']+)")


def session(access: PrometheusConfig, *, credentials: bool) -> requests.Session:
    """A session verifying as ``access`` says; with ``credentials`` it also carries the bearer token or basic auth."""
    http = requests.Session()
    if access.insecure_skip_verify:
        _warn_insecure()
        http.verify = False
    elif access.ca_file is not None:
        http.verify = str(access.ca_file)
    else:
        http.verify = True
    if credentials and access.bearer_token is not None:
        http.headers["Authorization"] = f"Bearer {access.bearer_token.resolve()}"
    elif credentials and access.username and access.password is not None:
        http.auth = HTTPBasicAuth(access.username, access.password.resolve())
    return http


@functools.cache
def _warn_insecure() -> None:
    log.warning(
        "[prometheus] insecure_skip_verify = true: metric servers' TLS certificates are NOT checked; "
        "anyone on the path can feed the canary analysis its numbers"
    )


def tls_problem(error: Exception) -> str | None:
    """One sentence when ``error`` is a certificate that did not verify, else None."""
    if not isinstance(error, requests.exceptions.SSLError):
        return None
    found = _VERIFY_FAILED.search(str(error))
    detail = f" ({found.group(1).strip()})" if found else ""
    return (
        f"its TLS certificate could not be verified{detail}; set [prometheus] ca_file to the CA that signed it"
        " (or, knowingly, insecure_skip_verify = true)"
    )
