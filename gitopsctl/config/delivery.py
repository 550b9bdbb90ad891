"""What is delivered where, and how: ``[git]``, ``[environments.*]``, ``[apps.*]`` with their canary, ``[analysis.templates.*]``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .model import (
    DAYS,
    PROVIDERS,
    STRATEGIES,
    SYNC_POLICIES,
    TRAFFIC_ROUTERS,
    AnalysisTemplate,
    App,
    Approval,
    Canary,
    Environment,
    FreezeWindow,
    GitConfig,
    Step,
    Webhook,
)
from .reader import (
    Reader,
    condition_problem,
    dns_label_problem,
    kind_problem,
    slack_channel_problem,
    timezone_problem,
    url_problem,
)

_JSON_POINTER = re.compile(r"^(/([^~/]|~[01])*)+$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def read_git(reader: Reader | None, base_dir: Path, errors: list[str]) -> GitConfig | None:
    if reader is None:
        errors.append("git: required table is missing")
        return None
    url = reader.string("url", required=True)
    branch = reader.string("branch", default="main")
    cache_dir = reader.file_path("cache_dir", base_dir)
    author_name = reader.string("author_name", default="gitopsctl")
    author_email = reader.string("author_email", default="gitopsctl@localhost")
    max_mb = reader.integer("max_render_mb", default=10, minimum=1, maximum=1024)
    # "0" (or "0s") turns polling off: the branch is then fetched on webhooks only
    poll_interval = 0.0 if reader.raw("poll_interval") == "0" else reader.duration("poll_interval", default=60.0)
    webhook_secret = reader.secret("webhook_secret")
    commit_url = reader.string(
        "commit_url",
        check=lambda v: url_problem(v) or (None if "{sha}" in v else 'must contain "{sha}" where the commit goes'),
    )
    reader.finish()
    if url is None:
        return None
    return GitConfig(
        url=url,
        branch=branch or "main",
        cache_dir=cache_dir or Path("~/.cache/gitopsctl").expanduser(),
        author_name=author_name or "gitopsctl",
        author_email=author_email or "gitopsctl@localhost",
        max_render_bytes=max_mb * 1024 * 1024,
        commit_url=commit_url,
        poll_interval=poll_interval or 0.0,
        webhook_secret=webhook_secret,
    )


def _freeze(reader: Reader, index: int) -> FreezeWindow | None:
    name = reader.string("name", default=f"freeze-{index}")
    days = reader.strings(
        "days", default=DAYS, check=lambda d: None if d in DAYS else f'"{d}" is not a day; use one of {", ".join(DAYS)}'
    )
    start = reader.string(
        "start", required=True, check=lambda t: None if _TIME.match(t) else f'"{t}" is not a time; write it as HH:MM'
    )
    end = reader.string(
        "end", required=True, check=lambda t: None if _TIME.match(t) else f'"{t}" is not a time; write it as HH:MM'
    )
    tz = reader.string("timezone", default="UTC", check=timezone_problem)
    reason = reader.string("reason", default="")
    reader.finish()
    if start is None or end is None:
        return None
    return FreezeWindow(name or "", days, start, end, tz or "UTC", reason or "")


def read_environment(name: str, reader: Reader, base_dir: Path, groups: dict[str, tuple[str, ...]]) -> Environment:
    context = reader.string("context", required=True)
    namespace = reader.string("namespace", default="default", check=dns_label_problem)
    kubeconfig = reader.file_path("kubeconfig", base_dir)
    auto_deploy = reader.boolean("auto_deploy", default=False)
    strategy = reader.string(
        "strategy",
        default="direct",
        check=lambda s: None if s in STRATEGIES else f'must be one of {", ".join(STRATEGIES)} (got "{s}")',
    )
    upstream = reader.boolean("require_upstream_healthy", default=False)
    self_heal = reader.boolean("self_heal", default=False)
    sync = reader.string(
        "sync",
        default="manual",
        check=lambda s: None if s in SYNC_POLICIES else f'must be one of {", ".join(SYNC_POLICIES)} (got "{s}")',
    )
    channel = reader.string("slack_channel", check=slack_channel_problem)
    allowed_namespaces = reader.strings("allowed_namespaces", check=dns_label_problem)
    cluster_resources = reader.strings("cluster_resources", check=kind_problem)
    approval = Approval()
    if (sub := reader.table("approval")) is not None:
        required = sub.integer("required", default=1, minimum=0, maximum=10)
        users = sub.strings("users")
        group_names = sub.strings(
            "groups", check=lambda g: None if g in groups else f'"{g}" is not defined under [groups]'
        )
        if required and not users and not group_names:
            sub.error(
                "required",
                "approvals are required but no users or groups may approve; add approval.users or approval.groups",
            )
        sub.finish()
        approval = Approval(required, users, group_names)
    windows = []
    raw_freeze = reader.raw("freeze")
    if raw_freeze is not None:
        if not isinstance(raw_freeze, list):
            reader.error("freeze", "must be a list of tables ([[environments.NAME.freeze]])")
        else:
            for i, item in enumerate(raw_freeze):
                window = _freeze(Reader(item, f"{reader.where('freeze')}[{i}]", reader.errors), i)
                if window is not None:
                    windows.append(window)
    reader.finish()
    return Environment(
        name=name,
        context=context or "",
        namespace=namespace or "default",
        kubeconfig=kubeconfig,
        auto_deploy=auto_deploy,
        strategy=strategy or "direct",
        require_upstream_healthy=upstream,
        self_heal=self_heal,
        sync=sync or "manual",
        slack_channel=channel,
        approval=approval,
        freeze=tuple(windows),
        allowed_namespaces=tuple(dict.fromkeys((namespace or "default", *allowed_namespaces))),
        cluster_resources=cluster_resources,
    )


def _step(reader: Reader, templates: dict[str, Any]) -> Step | None:
    kinds = [k for k in ("set_weight", "pause", "analysis", "judge") if reader.has(k)]
    if len(kinds) != 1:
        reader.error(
            None,
            "each step needs exactly one of set_weight, pause, analysis or judge"
            + (f" (got {', '.join(kinds)})" if kinds else ""),
        )
    step = None
    if reader.has("set_weight"):
        weight = reader.integer("set_weight", default=-1, minimum=0, maximum=100)
        step = Step(set_weight=weight) if weight >= 0 else None
    if reader.has("pause"):
        value = reader.raw("pause")
        if isinstance(value, dict) and not value:
            step = Step(pause_indefinitely=True)
        else:
            seconds = reader.duration("pause", default=None)
            if seconds is not None:
                step = Step(pause=seconds)
    if reader.has("analysis"):
        name = reader.string(
            "analysis",
            check=lambda t: (
                None if t in templates else f'"{t}" is not an analysis template defined under [analysis.templates]'
            ),
        )
        step = Step(analysis=name) if name else None
    if reader.has("judge"):
        names = reader.strings(
            "judge",
            check=lambda t: (
                None
                if getattr(templates.get(t), "judge", None)
                else f'"{t}" is not an analysis template with judge = "increase", "decrease" or "either"'
            ),
        )
        step = Step(judge=names) if names else None
    reader.finish()
    return step if len(kinds) == 1 else None


def _canary(reader: Reader, templates: dict[str, Any]) -> Canary | None:
    raw_steps = reader.raw("steps")
    steps = []
    if not isinstance(raw_steps, list) or not raw_steps:
        reader.error("steps", "must be a non-empty list of steps such as { set_weight = 10 }")
    else:
        for i, item in enumerate(raw_steps):
            step = _step(Reader(item, f"{reader.where('steps')}[{i}]", reader.errors), templates)
            if step is not None:
                steps.append(step)
    router = reader.string(
        "traffic_router",
        default="replicas",
        check=lambda r: None if r in TRAFFIC_ROUTERS else f'must be one of {", ".join(TRAFFIC_ROUTERS)} (got "{r}")',
    )
    background = reader.strings(
        "background_analysis",
        check=lambda t: (
            None if t in templates else f'"{t}" is not an analysis template defined under [analysis.templates]'
        ),
    )
    delay = reader.duration("scale_down_delay", default=30.0)
    if delay is not None and delay > 600:
        reader.error("scale_down_delay", "must be at most 10m (the canary keeps its pods that long)")
    gateway = reader.string("gateway", check=_gateway_problem)
    if router == "gateway" and not gateway and not reader.has("gateway"):
        reader.error(
            "gateway",
            'required with traffic_router = "gateway": the Gateway its HTTPRoute attaches to, as NAME or NAMESPACE/NAME',
        )
    elif gateway and router != "gateway":
        reader.error(
            "gateway", 'only the "gateway" traffic router uses it; remove it or set traffic_router = "gateway"'
        )
    parent = tuple(gateway.rpartition("/")[::2]) if gateway else None
    pre_rollout, post_promotion = _webhooks(reader, "pre_rollout"), _webhooks(reader, "post_promotion")
    reader.finish()
    return Canary(
        tuple(steps),
        router or "replicas",
        background,
        30.0 if delay is None else min(delay, 600.0),
        parent,
        pre_rollout,
        post_promotion,
    )


def _webhooks(reader: Reader, key: str) -> tuple[Webhook, ...]:
    """``[{ url = "...", secret = "${NAME}", timeout = "30s" }, ...]``: URLs a rollout calls, in order."""
    raw = reader.raw(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        reader.error(key, 'must be a list of webhooks such as { url = "https://gate.example.com/check" }')
        return ()
    found = []
    for i, item in enumerate(raw):
        sub = Reader(item, f"{reader.where(key)}[{i}]", reader.errors)
        url = sub.string("url", required=True, check=url_problem)
        secret = sub.secret("secret")
        timeout = sub.duration("timeout", default=30.0)
        if timeout is not None and not 0 < timeout <= 600:
            sub.error("timeout", "must be more than 0s and at most 10m")
        sub.finish()
        if url:
            found.append(Webhook(url, secret, min(max(timeout or 30.0, 0.001), 600.0)))
    return tuple(found)


def _gateway_problem(value: str) -> str | None:
    """NAME or NAMESPACE/NAME, each a DNS label or subdomain, as a Gateway API parentRef takes them."""
    namespace, _, name = value.rpartition("/")
    if (namespace and dns_label_problem(namespace)) or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
        return f'must be a Gateway as NAME or NAMESPACE/NAME (got "{value}")'
    return None


def read_app(name: str, reader: Reader, environments: dict[str, Any], templates: dict[str, Any]) -> App:
    path = reader.string("path", required=True, check=_path_template)
    container = reader.string("container", default=name)
    envs = reader.strings(
        "environments",
        default=tuple(environments),
        check=lambda e: None if e in environments else f'"{e}" is not an environment defined under [environments]',
    )
    ignore = reader.strings(
        "ignore_differences",
        check=lambda p: None if _JSON_POINTER.match(p) else f'"{p}" is not a JSON pointer such as /spec/replicas',
    )
    channel = reader.string("slack_channel", check=slack_channel_problem)
    raw_kinds = reader.raw("kinds")
    kinds = None if raw_kinds is None else reader.strings("kinds", check=kind_problem)
    if raw_kinds == []:
        reader.error("kinds", "must list at least one kind (leave it out to allow any namespaced kind)")
    values = reader.strings("values", check=_values_template)
    version_path = reader.string("version_path", check=_version_path)
    if version_path and values is not None:
        file = version_path.partition(":")[0]
        if file != "values.yaml" and file not in values:
            reader.error(
                "version_path",
                f'"{file}" is not one of the app\'s values files, so a version written there would not be deployed; '
                "add it to values or name one of them",
            )
    canary = None
    if (sub := reader.table("canary")) is not None:
        canary = _canary(sub, templates)
    else:
        needing = [e for e in envs if getattr(environments.get(e), "strategy", "direct") == "canary"]
        if needing:
            reader.error(
                "canary",
                f"required because environment {needing[0]} uses the canary strategy; add [apps.{name}.canary] with steps",
            )
    reader.finish()
    return App(name, path or "", container or name, envs, ignore, canary, channel, kinds, values, version_path)


def read_template(name: str, reader: Reader) -> AnalysisTemplate:
    provider = reader.string(
        "provider",
        default="prometheus",
        check=lambda p: None if p in PROVIDERS else f'must be one of {", ".join(PROVIDERS)} (got "{p}")',
    )
    query = reader.string("query", required=True)
    interval = reader.duration("interval", default=30.0)
    count = reader.integer("count", default=5, minimum=1, maximum=1000)
    success = reader.string("success_condition", check=condition_problem)
    failure = reader.string("failure_condition", check=condition_problem)
    failure_limit = reader.integer("failure_limit", default=0, minimum=0, maximum=100)
    inconclusive_limit = reader.integer("inconclusive_limit", default=0, minimum=0, maximum=100)
    consecutive_error_limit = reader.integer("consecutive_error_limit", default=4, minimum=0, maximum=100)
    url = reader.string("url", check=url_problem)
    judge = reader.string(
        "judge",
        check=lambda j: (
            None if j in ("increase", "decrease", "either") else f'must be increase, decrease or either (got "{j}")'
        ),
    )
    window = reader.duration("window", default=60.0)
    min_samples = reader.integer("min_samples", default=10, minimum=3, maximum=10000)
    initial_delay = reader.duration("initial_delay", default=0.0)
    argo_compatible_nan = reader.boolean("argo_compatible_nan", default=False)
    if not reader.has("success_condition") and not reader.has("failure_condition") and not reader.has("judge"):
        reader.error(None, "needs success_condition or failure_condition (or both), or judge")
    if provider == "web" and not url:
        reader.error("url", "required when provider is web")
    reader.finish()
    return AnalysisTemplate(
        name,
        provider or "prometheus",
        query or "",
        interval or 30.0,
        count,
        success,
        failure,
        failure_limit,
        inconclusive_limit,
        consecutive_error_limit,
        url,
        judge,
        window or 60.0,
        min_samples,
        initial_delay or 0.0,
        argo_compatible_nan,
    )


def _path_template(value: str) -> str | None:
    if value.startswith("/") or ".." in Path(value).parts:
        return f'"{value}" must be a relative path inside the repository'
    if re.search(r"[{}]", re.sub(r"\{(?:env|app)\}", "", value)):  # "{env:.>2}" would format to ".."
        return f'"{value}" may only use the placeholders {{env}} and {{app}}'
    return None


def _version_path(value: str) -> str | None:
    """FILE:KEY.KEY, the file a values file inside the app's path and the keys plain mapping keys."""
    file, colon, keys = value.partition(":")
    if not colon or not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", keys):
        return f'"{value}" must be a values file and the dotted keys of the version in it, such as "values-{{env}}.yaml:image.tag"'
    return _values_template(file)


def _values_template(value: str) -> str | None:
    """A values file inside the app's path: helm reads it from the export of that path, never from elsewhere."""
    parts = value.split("/")
    if not value or value.startswith("/") or "\\" in value or any(p in ("", ".", "..") for p in parts):
        return f'"{value}" must be a relative path inside the app\'s path, such as "values-{{env}}.yaml"'
    if any(ord(c) < 32 for c in value):
        return f"{value!r} holds a control character"
    return _path_template(value)
