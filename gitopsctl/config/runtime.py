"""How the long-running parts behave: ``[drift]`` scans, ``[serve]`` leadership and loop, ``[prometheus]`` access."""

from __future__ import annotations

from pathlib import Path

from .model import DriftConfig, PrometheusConfig, ServeConfig
from .reader import Reader, cron_problem, dns_label_problem, url_problem


def read_drift(reader: Reader) -> DriftConfig:
    interval = reader.duration("interval", default=180.0)
    cron = reader.string("cron", check=cron_problem)
    if reader.has("interval") and reader.has("cron"):
        reader.error("cron", "set either interval or cron, not both")
    drift = DriftConfig(
        interval=None if cron else interval,
        cron=cron,
        jitter=reader.duration("jitter", default=20.0) or 0.0,
        reminder_after_scans=reader.integer("reminder_after_scans", default=10, minimum=1, maximum=1000),
        summary_cron=reader.string("summary_cron", check=cron_problem),
    )
    reader.finish()
    return drift


def read_serve(reader: Reader, base_dir: Path) -> ServeConfig:
    lease = reader.duration("lease_duration", default=15.0) or 15.0
    renew = reader.duration("renew_deadline", default=10.0) or 10.0
    retry = reader.duration("retry_period", default=2.0) or 2.0
    if not (lease > renew > 1.2 * retry and retry >= 1):
        reader.error(
            "lease_duration",
            f"needs lease_duration > renew_deadline > 1.2 x retry_period and retry_period >= 1s "
            f"(got {lease:g}s, {renew:g}s, {retry:g}s)",
        )
    kubeconfig = reader.file_path("lease_kubeconfig", base_dir)
    serve = ServeConfig(
        lease_name=reader.string("lease_name", default="gitopsctl-serve", check=dns_label_problem) or "gitopsctl-serve",
        lease_namespace=reader.string("lease_namespace", default="gitopsctl", check=dns_label_problem) or "gitopsctl",
        lease_context=reader.string("lease_context"),
        lease_kubeconfig=kubeconfig,
        lease_duration=lease,
        renew_deadline=renew,
        retry_period=retry,
        reconcile_interval=reader.duration("reconcile_interval", default=2.0) or 2.0,
        watch=reader.boolean("watch", default=True),
        approval_ttl=reader.duration("approval_ttl", default=24 * 3600.0) or 24 * 3600.0,
        metrics_address=reader.string("metrics_address", default="127.0.0.1") or "127.0.0.1",
        metrics_port=reader.integer("metrics_port", default=9102, minimum=0, maximum=65535),
    )
    reader.finish()
    return serve


def read_prometheus(reader: Reader, base_dir: Path) -> tuple[str | None, PrometheusConfig]:
    """``[prometheus]``: its URL, and how to reach it (TLS, one kind of credentials)."""
    url = reader.string("url", required=True, check=url_problem)
    prometheus = PrometheusConfig(
        ca_file=reader.file_path("ca_file", base_dir),
        insecure_skip_verify=reader.boolean("insecure_skip_verify", default=False),
        bearer_token=reader.secret("bearer_token"),
        username=reader.string("username"),
        password=reader.secret("password"),
    )
    if prometheus.ca_file is not None and prometheus.insecure_skip_verify:
        reader.error("insecure_skip_verify", "set either ca_file or insecure_skip_verify, not both")
    if prometheus.bearer_token is not None and (prometheus.username or prometheus.password):
        reader.error("bearer_token", "set either bearer_token or username and password, not both")
    if bool(prometheus.username) != (prometheus.password is not None):
        reader.error("username" if prometheus.password else "password", "username and password go together")
    reader.finish()
    return url, prometheus
