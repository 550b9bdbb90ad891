"""Attack 10: whoever sits between gitopsctl and Prometheus could feed good numbers to a bad canary.

A real HTTPS endpoint on 127.0.0.1 with the sandbox's self-signed CA stands in for
Prometheus (and for a web provider); the configuration decides whether it is trusted.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import ssl
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gitopsctl import config
from gitopsctl.analysis.measurement import ERROR, SUCCESSFUL
from gitopsctl.analysis.providers import provider_for, transport
from gitopsctl.analysis.run import compile_template, measure
from gitopsctl.errors import ConfigError
from kubesandbox.tls import ensure_certificates

EXAMPLE = tomllib.loads((Path(__file__).resolve().parents[2] / "config.example.toml").read_text())
VARIABLES = {"app": "trade-service", "env": "prod", "namespace": "trading-prod", "track": "canary"}
GOOD_NUMBERS = {
    "status": "success",
    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "0.999"]}]},
}


class _Endpoint:
    """Prometheus' /api/v1/query and a JSON web endpoint over HTTPS; what each request carried is kept."""

    def __init__(self, certificates: Path) -> None:
        certificates.mkdir()
        self.ca, cert, key = ensure_certificates(certificates)
        self.seen: list[dict[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.seen.append({"path": self.path, "authorization": self.headers.get("Authorization", "")})
                body = json.dumps(GOOD_NUMBERS if self.path.startswith("/api/v1/query") else {"rate": 0.999})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint(tmp_path, monkeypatch):
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):  # only the configuration decides
        monkeypatch.delenv(variable, raising=False)
    served = _Endpoint(tmp_path / "certs")
    yield served
    served.stop()


def configured(endpoint: _Endpoint, **prometheus) -> config.Config:
    data = copy.deepcopy(EXAMPLE)
    data["prometheus"] = {"url": endpoint.url, **prometheus}
    data["analysis"]["templates"]["web-rate"] = {
        "provider": "web",
        "url": f"{endpoint.url}/rate.json",
        "query": "rate",
        "success_condition": "result >= 0.99",
    }
    return config.parse(data)


def measured(cfg: config.Config, template: str = "success-rate"):
    compiled = compile_template(cfg.analysis[template])
    return measure(compiled, provider_for(compiled.template, cfg), VARIABLES)


@pytest.mark.parametrize("template", ["success-rate", "web-rate"])
def test_by_default_an_unverifiable_certificate_is_an_error_never_a_success(endpoint, template):
    m = measured(configured(endpoint), template)
    assert m.phase == ERROR and m.value is None
    assert "TLS certificate could not be verified" in m.message and "ca_file" in m.message
    assert endpoint.seen == [], "no query reached the server over the untrusted connection"


@pytest.mark.parametrize("template", ["success-rate", "web-rate"])
def test_the_configured_ca_file_is_trusted(endpoint, template):
    m = measured(configured(endpoint, ca_file=str(endpoint.ca)), template)
    assert (m.phase, m.number) == (SUCCESSFUL, 0.999)


def test_insecure_skip_verify_is_an_explicit_opt_out_warned_about_once(endpoint, caplog):
    transport._warn_insecure.cache_clear()
    cfg = configured(endpoint, insecure_skip_verify=True)
    with caplog.at_level(logging.WARNING, logger=transport.__name__):
        first, second = measured(cfg), measured(cfg, "web-rate")
    assert (first.phase, second.phase) == (SUCCESSFUL, SUCCESSFUL)
    warnings = [r.getMessage() for r in caplog.records if "insecure_skip_verify" in r.getMessage()]
    assert len(warnings) == 1 and "NOT checked" in warnings[0]


def test_a_bearer_token_from_the_environment_goes_to_prometheus_only(endpoint, monkeypatch):
    monkeypatch.setenv("PROM_TOKEN", "s3cret-token")
    cfg = configured(endpoint, ca_file=str(endpoint.ca), bearer_token="${PROM_TOKEN}")
    assert "s3cret-token" not in repr(cfg.prometheus)
    assert measured(cfg).phase == SUCCESSFUL and measured(cfg, "web-rate").phase == SUCCESSFUL
    by_path = {seen["path"].split("?")[0]: seen["authorization"] for seen in endpoint.seen}
    assert by_path == {"/api/v1/query": "Bearer s3cret-token", "/rate.json": ""}


def test_basic_auth_takes_its_password_from_the_environment(endpoint, monkeypatch):
    monkeypatch.setenv("PROM_PASSWORD", "pa55")
    cfg = configured(endpoint, ca_file=str(endpoint.ca), username="gitopsctl", password="${PROM_PASSWORD}")
    assert measured(cfg).phase == SUCCESSFUL
    assert endpoint.seen[0]["authorization"] == "Basic " + base64.b64encode(b"gitopsctl:pa55").decode()


def test_a_token_missing_from_the_environment_is_an_error_measurement_not_a_crash(endpoint, monkeypatch):
    monkeypatch.delenv("PROM_TOKEN", raising=False)
    m = measured(configured(endpoint, ca_file=str(endpoint.ca), bearer_token="${PROM_TOKEN}"))
    assert m.phase == ERROR and "PROM_TOKEN is not set" in m.message
    assert endpoint.seen == []


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"bearer_token": "s3cret-token"}, "prometheus.bearer_token: must be an environment variable reference"),
        ({"username": "u", "password": "pa55"}, "prometheus.password: must be an environment variable reference"),
        ({"username": "u"}, "prometheus.password: username and password go together"),
        ({"ca_file": "ca.crt", "insecure_skip_verify": True}, "set either ca_file or insecure_skip_verify"),
        ({"insecure_skip_verify": "yes"}, "prometheus.insecure_skip_verify: must be true or false"),
    ],
)
def test_secrets_in_the_file_and_contradictions_are_refused(endpoint, settings, problem):
    with pytest.raises(ConfigError) as refused:
        configured(endpoint, **settings)
    assert any(problem in p for p in refused.value.problems), refused.value.problems
    assert all("s3cret-token" not in p and "pa55" not in p for p in refused.value.problems)
