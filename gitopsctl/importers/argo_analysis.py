"""Argo Rollouts' AnalysisTemplates and ClusterAnalysisTemplates to ``[analysis.templates.*]`` and ``[prometheus]``.

A gitopsctl template is one metric without arguments, so each metric of an
Argo template becomes one, for each set of argument values it is used with.
``{{args.NAME}}`` is filled with the value the Rollout (or the template) gives;
in a Prometheus query, a value that is the app's name, its environment's or its
namespace becomes gitopsctl's own placeholder (``{{app}}``, ``{{env}}``,
``{{namespace}}``), filled in per measurement. Conditions are copied as they
are (gitopsctl reads Argo's expressions); only their arguments are filled in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..durations import parse_duration
from ..errors import UsageError
from .document import ConfigDraft, dns_label
from .fields import OBJECT_METADATA, Fields, type_name
from .manifests import Manifest

KINDS = {"AnalysisTemplate": "argoproj.io", "ClusterAnalysisTemplate": "argoproj.io"}
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
_JSON_PATH = re.compile(r"^\$(\.[^.\[\]{}()?@*]+|\[\d+\])*$")  # what gitopsctl's web provider follows
_URL = re.compile(r"^https?://\S+$")
_LIMITS = {"failureLimit": "failure_limit", "inconclusiveLimit": "inconclusive_limit"}

REASONS = {
    "spec.dryRun": "gitopsctl has no dry-run metrics: every metric counts",
    "spec.measurementRetention": "gitopsctl keeps a rollout's measurements in its record",
    "spec.metrics[].consecutiveSuccessLimit": "gitopsctl counts successful measurements (count), not consecutive ones",
    "spec.metrics[].successLimit": (
        "not an Argo Rollouts field, so Argo ignores it; gitopsctl's count is how many successful measurements pass"
    ),
    "spec.metrics[].provider.prometheus.timeout": "gitopsctl's queries time out after 10 s",
    "spec.metrics[].provider.prometheus.headers": "gitopsctl sends Prometheus no extra headers",
    "spec.metrics[].provider.prometheus.authentication": (
        "set [prometheus] bearer_token, or username and password, as ${ENV_VAR} references"
    ),
    "spec.metrics[].provider.prometheus.insecure": (
        "[prometheus] insecure_skip_verify turns TLS checks off for every provider: set it knowingly, or set ca_file"
    ),
    "spec.metrics[].provider.web.headers": "gitopsctl's web provider sends no headers",
    "spec.metrics[].provider.web.timeoutSeconds": "gitopsctl's web provider waits 10 s",
    "spec.metrics[].provider.web.authentication": "gitopsctl sends no credentials to web providers",
    "spec.metrics[].provider.web.insecure": (
        "[prometheus] insecure_skip_verify turns TLS checks off for every provider: set it knowingly, or set ca_file"
    ),
}


@dataclass(frozen=True)
class ArgValue:
    """What ``{{args.NAME}}`` becomes: a value (and, where one fits, gitopsctl's placeholder), or why there is none."""

    literal: str | None = None
    origin: str = ""  # where the value comes from, for the note
    placeholder: str | None = None  # app, env or namespace
    missing: str | None = None


def arg_value(literal: str, origin: str, placeholders: Mapping[str, str]) -> ArgValue:
    """``literal``, with the first of gitopsctl's placeholders whose value it is."""
    name = next((name for name, value in placeholders.items() if value == literal), None)
    return ArgValue(literal, origin, name)


def arg_text(arg: Fields) -> str:
    """An argument's ``value``: a string (a bare number, as Argo's own examples write some, is taken as written)."""
    value = arg.get("value")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise arg.fail("value", f"must be a string (got {type_name(value)})")
    return str(value)


class _Skipped(Exception):
    """A metric that cannot become a gitopsctl template; the message says why, in the note."""


class Analyses:
    """Makes gitopsctl templates from the Argo templates among the manifests, as the Rollouts use them."""

    def __init__(self, manifests: Sequence[Manifest], draft: ConfigDraft) -> None:
        self.draft = draft
        self._templates: dict[tuple[str, str], Manifest] = {}
        for manifest in manifests:
            if manifest.kind in KINDS:
                key = (manifest.kind, manifest.name)
                if key in self._templates:
                    raise UsageError(f"{manifest.where}: a second {manifest.kind} named {manifest.name}")
                self._templates[key] = manifest
        self._made: dict[tuple[Any, ...], list[str]] = {}
        self._used: set[tuple[str, str]] = set()

    def use(self, ref: Fields, args: Mapping[str, ArgValue], placeholders: Mapping[str, str]) -> list[str]:
        """The gitopsctl templates for one ``templates[]`` entry of a Rollout's analysis, in order."""
        name = ref.string("templateName", required=True) or ""
        cluster = ref.get("clusterScope")
        if cluster is not None and not isinstance(cluster, bool):
            raise ref.fail("clusterScope", f"must be true or false (got {cluster!r})")
        kind = "ClusterAnalysisTemplate" if cluster else "AnalysisTemplate"
        manifest = self._templates.get((kind, name))
        if manifest is None:
            ref.note("templateName", f"{kind} {name} is not among the files: pass its manifest too")
            return []
        self._used.add((kind, name))
        made = self._convert(manifest, args, placeholders)
        if not made:
            ref.note(
                "templateName", f"{kind} {name} has no metric gitopsctl can measure with these arguments: see its notes"
            )
        return made

    def convert_unused(self) -> None:
        """Templates no Rollout uses are imported with their own argument values, for steps written by hand."""
        for key, manifest in self._templates.items():
            if key not in self._used:
                self._convert(manifest, {}, {})

    def _convert(self, manifest: Manifest, given: Mapping[str, ArgValue], placeholders: Mapping[str, str]) -> list[str]:
        key = (manifest.kind, manifest.name, tuple(sorted(given.items(), key=lambda kv: kv[0])), *placeholders.items())
        if key in self._made:
            return self._made[key]
        spec_data = manifest.body.get("spec")
        metrics = spec_data.get("metrics") if isinstance(spec_data, dict) else None
        wanted = _names(manifest.name, metrics if isinstance(metrics, list) else [])
        table = ("analysis", "templates", self._free(wanted[0] if wanted else dns_label(manifest.name)))
        fields = Fields.of(manifest, self.draft.notes, table)
        fields.skip("apiVersion", "kind", "status")
        fields.sub("metadata").skip(*OBJECT_METADATA, "annotations")
        spec = fields.sub("spec")
        args = _arguments(spec, given)
        made = []
        for metric, want in zip(spec.items("metrics"), wanted, strict=True):
            name = self._free(want)
            metric.table = ("analysis", "templates", name)
            template = _metric(metric, args, placeholders, self.draft)
            if template is None:
                continue
            self.draft.templates[name] = template
            made.append(name)
            if name != want:
                metric.note("name", f"imported as {name}: the same template with other argument values", converted=True)
        if not wanted:
            spec.note("metrics", "none: nothing to measure")
        fields.report_unread(REASONS)
        self._made[key] = made
        return made

    def _free(self, name: str) -> str:
        """``name``, or ``name-2``, ``name-3``... when a template of that name was already made."""
        candidate, n = name, 1
        while candidate in self.draft.templates:
            n += 1
            candidate = f"{name[: 62 - len(str(n))]}-{n}"
        return candidate


def _names(template: str, metrics: list[Any]) -> list[str]:
    """The gitopsctl name of each metric: the template's for its only metric, else template-metric."""
    base = dns_label(template)
    if len(metrics) <= 1:
        return [base] * len(metrics)
    names = []
    for metric in metrics:
        name = metric.get("name") if isinstance(metric, dict) else None
        names.append(dns_label(f"{base}-{name}") if isinstance(name, str) else base)
    return names


def _arguments(spec: Fields, given: Mapping[str, ArgValue]) -> dict[str, ArgValue]:
    """Each declared argument's value: the one the Rollout gives, else the template's own, else why there is none."""
    args = {}
    for arg in spec.items("args"):
        name = arg.string("name", required=True) or ""
        if name in given:
            arg.skip("value", "valueFrom")
            args[name] = given[name]
        elif arg.has("value"):
            args[name] = ArgValue(arg_text(arg), "the template's default")
        elif arg.has("valueFrom"):
            source = arg.get("valueFrom")
            why = "a Secret" if isinstance(source, dict) and "secretKeyRef" in source else "valueFrom"
            args[name] = ArgValue(missing=f"args.{name}, which comes from {why}: gitopsctl has no such value")
        else:
            args[name] = ArgValue(
                missing=f"args.{name}, which has no value (the Rollout that uses the template gives it)"
            )
    return args


def _metric(
    metric: Fields, args: Mapping[str, ArgValue], placeholders: Mapping[str, str], draft: ConfigDraft
) -> dict[str, Any] | None:
    """One metric as a gitopsctl template, or None with a note saying why it cannot be one."""
    metric.string("name", required=True)
    fill = _Filler(args)
    try:
        provider = metric.sub("provider")
        if provider.has("prometheus"):
            template = _prometheus(provider.sub("prometheus"), fill, bool(placeholders), draft)
        elif provider.has("web"):
            template = _web(provider.sub("web"), fill)
        else:
            names = ", ".join(provider.data) or "none"
            raise _Skipped(f"its provider ({names}) is not one gitopsctl has: prometheus or web")
        template.update(_measuring(metric, fill))
        conditions = _conditions(metric, fill)
        if not conditions:
            raise _Skipped("neither successCondition nor failureCondition: gitopsctl's templates need one")
        template.update(conditions)
    except _Skipped as e:
        metric.drop_all(str(e))
        return None
    for name in sorted(fill.used):
        metric.note_about(f"{{{{args.{name}}}}}", _said(args[name]), converted=True)
    return template


def _said(arg: ArgValue) -> str:
    if arg.placeholder:
        return (
            f"{arg.literal!r}, {arg.origin}, is the {arg.placeholder}'s name: {{{{{arg.placeholder}}}}} in the query "
            "(gitopsctl fills it in per measurement), the value itself anywhere else"
        )
    return f"{arg.literal!r}, {arg.origin}, written in"


class _Filler:
    """Fills ``{{args.NAME}}`` in a metric's strings, remembering which arguments it filled (for the notes)."""

    def __init__(self, args: Mapping[str, ArgValue]) -> None:
        self.args = args
        self.used: set[str] = set()

    def __call__(self, fields: Fields, key: str, *, placeholders: bool = False) -> str | None:
        """The string at ``key`` with its arguments filled in, gitopsctl's placeholders where ``placeholders``."""
        text = fields.get(key)
        if text is None:
            return None
        if not isinstance(text, str):
            raise fields.fail(key, f"must be a string (got {type_name(text)})")

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            arg = self.args.get(name)
            if arg is None:
                raise _Skipped(f"{fields.at(key)} uses args.{name}, which the template does not declare")
            if arg.missing:
                raise _Skipped(f"{fields.at(key)} uses {arg.missing}")
            self.used.add(name)
            return "{{" + arg.placeholder + "}}" if placeholders and arg.placeholder else arg.literal or ""

        return _ARG.sub(value, text).strip()


def _prometheus(prometheus: Fields, fill: _Filler, placeholders: bool, draft: ConfigDraft) -> dict[str, Any]:
    if prometheus.has("rangeQuery"):
        raise _Skipped("a range query: gitopsctl's analysis takes instant queries")
    query = fill(prometheus, "query", placeholders=placeholders)
    if not query:
        raise prometheus.fail("query", "is required")
    address = fill(prometheus, "address")
    if address is not None:
        known = draft.prometheus.get("url")
        if not _URL.match(address):
            prometheus.note("address", f"{address} is not an http(s) URL for [prometheus] url")
        elif known is None:
            draft.prometheus["url"] = address
        elif known != address:
            prometheus.note("address", f"{address}: gitopsctl asks one Prometheus, [prometheus] url = {known}")
    return {"provider": "prometheus", "query": query}


def _web(web: Fields, fill: _Filler) -> dict[str, Any]:
    method = web.get("method")
    if method not in (None, "GET"):
        raise _Skipped(f"method {method}: gitopsctl's web provider only GETs")
    url = fill(web, "url")
    if not url or not _URL.match(url):
        raise _Skipped(f"url {url!r} is not an http(s) URL")
    path = (fill(web, "jsonPath") or "{$}").strip()
    path = path[1:-1].strip() if path.startswith("{") and path.endswith("}") else path
    if not _JSON_PATH.match(path):
        raise _Skipped(f"jsonPath {path}: gitopsctl's web provider follows plain paths such as $.data.value")
    web.drop("body", "gitopsctl's web provider sends no body")
    web.drop("jsonBody", "gitopsctl's web provider sends no body")
    return {"provider": "web", "query": path, "url": url}


def _measuring(metric: Fields, fill: _Filler) -> dict[str, Any]:
    """How often and how many times to measure, and the limits; Argo's defaults are gitopsctl's except for count."""
    out: dict[str, Any] = {}
    interval = _duration(metric, "interval", fill)
    if interval is not None:
        out["interval"] = interval
    count = _whole(metric, "count", fill, 0, 1000)
    if count:
        out["count"] = count
    elif interval is None and count is None:
        out["count"] = 1  # Argo takes a single measurement
    else:
        metric.note(
            "count",
            f"{count if count is not None else 'none'}: Argo measures for as long as the analysis runs; an analysis "
            "step passes at gitopsctl's default of 5 successful measurements, background analysis runs for the whole "
            "rollout",
            converted=True,
        )
    for argo, key in (*_LIMITS.items(), ("consecutiveErrorLimit", "consecutive_error_limit")):
        limit = _whole(metric, argo, fill, -1, 100)
        if limit == -1:
            metric.note(argo, "-1 (no limit): gitopsctl's limits are from 0 to 100, and its default applies")
        elif limit is not None:
            out[key] = limit
    delay = _duration(metric, "initialDelay", fill)
    if delay is not None:
        out["initial_delay"] = delay
    return out


def _conditions(metric: Fields, fill: _Filler) -> dict[str, str]:
    """The conditions as they are (gitopsctl reads Argo's expressions), their arguments filled in."""
    out = {}
    for argo, key in (("successCondition", "success_condition"), ("failureCondition", "failure_condition")):
        condition = fill(metric, argo)
        if condition:
            out[key] = condition
    return out


def _whole(fields: Fields, key: str, fill: _Filler, minimum: int, maximum: int) -> int | None:
    """A count or limit: a number, or a string such as "{{args.count}}"."""
    value: Any = fill(fields, key) if isinstance(fields.data.get(key), str) else fields.get(key)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise fields.fail(key, f"must be a whole number (got {value!r})")
    if not minimum <= value <= maximum:
        raise fields.fail(key, f"must be from {max(minimum, 0)} to {maximum} for gitopsctl (got {value})")
    return value


def _duration(fields: Fields, key: str, fill: _Filler) -> str | None:
    text = fill(fields, key)
    if text is None:
        return None
    try:
        parse_duration(text)
    except ValueError as e:
        raise fields.fail(key, f"{text!r} is not a duration such as 30s, 5m or 1h") from e
    return text
