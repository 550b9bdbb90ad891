"""Argo Rollouts' Rollouts (with their analysis templates) to ``[apps.NAME.canary]`` and its environment.

A canary's steps map one to one where gitopsctl has the step (``setWeight``,
``pause``, ``analysis``: one gitopsctl step per metric, one after the other);
its traffic router where gitopsctl has the router (Istio, NGINX, the Gateway API
plugin), otherwise it follows the replica ratio, as Argo's basic canary does.
A Rollout is a workload of its own and gitopsctl canaries a Deployment, so the
pod template is a note saying to make it one. An Argo CD Application of the
same name gives the app its repository, path and environment; without one,
``--git-url`` and ``--path`` do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..durations import parse_duration
from ..errors import UsageError
from .argo_analysis import KINDS as TEMPLATE_KINDS
from .argo_analysis import Analyses, ArgValue, arg_text, arg_value
from .argocd import CHECK_IT, IN_CLUSTER, add_applications
from .document import ConfigDraft, Imported, dns_label
from .fields import OBJECT_METADATA, Fields
from .manifests import Manifest, one_sentence

KINDS = {
    "Rollout": "argoproj.io",
    **TEMPLATE_KINDS,
    "Application": "argoproj.io",
    "HTTPRoute": "gateway.networking.k8s.io",  # read only to find the Gateway a gatewayAPI plugin's route attaches to
}
GATEWAY_PLUGIN = "argoproj-labs/gatewayAPI"
MAX_SCALE_DOWN_DELAY = 600  # gitopsctl's scale_down_delay is at most 10m
_OTHER_ROUTERS = {
    "smi": "SMI",
    "alb": "AWS ALB",
    "ambassador": "Ambassador",
    "appMesh": "App Mesh",
    "traefik": "Traefik",
    "apisix": "APISIX",
}
_ROUTER_FIELDS = "spec.strategy.canary.trafficRouting"
_NO_ROUTER = "gitopsctl has no {} router: traffic follows the replica ratio unless istio, gateway or nginx route it"
_ANALYSIS = {
    "measurementRetention": "gitopsctl keeps a rollout's measurements in its record",
    "dryRun": "gitopsctl has no dry-run metrics: every metric counts",
}

REASONS = {
    "metadata.annotations": (
        "Argo Rollouts' annotations (notifications among them) have no equivalent: gitopsctl reports releases to the "
        "app's or the environment's slack_channel"
    ),
    "spec.template": (
        "a Rollout is not a Deployment: gitopsctl canaries the app's Deployment, so in Git this pod template belongs "
        "in a Deployment that replaces the Rollout"
    ),
    "spec.workloadRef": "gitopsctl canaries the Deployment itself: the app's path should hold it, without the Rollout",
    "spec.replicas": "the Deployment's spec.replicas in Git",
    "spec.selector": "the Deployment's selector in Git",
    "spec.minReadySeconds": "set it on the Deployment in Git",
    "spec.revisionHistoryLimit": "set it on the Deployment in Git; gitopsctl's history of releases is Git's",
    "spec.progressDeadlineSeconds": "set it on the Deployment in Git: a canary that misses it is aborted",
    "spec.progressDeadlineAbort": "gitopsctl always aborts a canary that misses its progress deadline",
    "spec.paused": "pause a rollout with `gitopsctl rollout pause`",
    "spec.rollbackWindow": "a rollback is `gitopsctl rollback`, a Git commit",
    "spec.analysis": "gitopsctl keeps a rollout's measurements in its record",
    "spec.strategy.blueGreen": (
        "gitopsctl has no blue-green: the nearest is a canary of one step, steps = [{ set_weight = 100 }]"
    ),
    "spec.strategy.canary.canaryService": (
        "gitopsctl's istio, gateway and nginx routers make <Service>-canary for the canary; the replicas router needs none"
    ),
    "spec.strategy.canary.stableService": "gitopsctl sends stable traffic to the app's own Service from Git",
    "spec.strategy.canary.maxSurge": "gitopsctl scales the canary by traffic weight",
    "spec.strategy.canary.maxUnavailable": "gitopsctl scales stable down only as far as the canary's ready pods cover",
    "spec.strategy.canary.abortScaleDownDelaySeconds": "gitopsctl waits scale_down_delay after an abort too",
    "spec.strategy.canary.dynamicStableScale": "gitopsctl's istio, gateway and nginx routers keep stable's pods until "
    "promotion",
    "spec.strategy.canary.canaryMetadata": "gitopsctl labels canary pods gitopsctl.io/track: canary",
    "spec.strategy.canary.minPodsPerReplicaSet": "gitopsctl runs as many canary pods as its traffic share needs",
    "spec.strategy.canary.steps[].experiment": "gitopsctl has no experiments; a judge step compares canary and stable",
    "spec.strategy.canary.steps[].setHeaderRoute": "gitopsctl routes by weight only",
    "spec.strategy.canary.steps[].setMirrorRoute": "gitopsctl does not mirror traffic",
    "spec.strategy.canary.steps[].plugin": "gitopsctl runs no step plugins",
    "spec.strategy.canary.analysis.startingStep": "gitopsctl measures background analysis once the canary has traffic",
    f"{_ROUTER_FIELDS}.istio.virtualService": (
        "gitopsctl's istio router writes its own VirtualService, <Service>-gitopsctl, for the app's Service; it does "
        "not edit this one"
    ),
    f"{_ROUTER_FIELDS}.istio.destinationRule": "gitopsctl splits traffic between Services, not subsets",
    f"{_ROUTER_FIELDS}.nginx.stableIngress": (
        "gitopsctl's nginx router writes its own canary Ingress, <Service>-gitopsctl, for the app's Service"
    ),
    f"{_ROUTER_FIELDS}.plugins.*": _NO_ROUTER.format("such"),
    f"{_ROUTER_FIELDS}.managedRoutes": "gitopsctl routes by weight only",
    f"{_ROUTER_FIELDS}.maxTrafficWeight": "gitopsctl's weights are percentages",
    **{f"{_ROUTER_FIELDS}.{key}": _NO_ROUTER.format(label) for key, label in _OTHER_ROUTERS.items()},
    **{f"spec.strategy.canary.steps[].analysis.{key}": why for key, why in _ANALYSIS.items()},
    **{f"spec.strategy.canary.analysis.{key}": why for key, why in _ANALYSIS.items()},
}
REASONS[f"{_ROUTER_FIELDS}.istio.virtualServices"] = REASONS[f"{_ROUTER_FIELDS}.istio.virtualService"]
REASONS[f"{_ROUTER_FIELDS}.nginx.stableIngresses"] = REASONS[f"{_ROUTER_FIELDS}.nginx.stableIngress"]


@one_sentence
def import_argo_rollouts(
    manifests: Sequence[Manifest],
    *,
    git_url: str | None = None,
    path: str | None = None,
    env: str | None = None,
    context: str | None = None,
) -> Imported:
    """A configuration with an app and its canary per Rollout, and every analysis template given."""
    draft = ConfigDraft()
    add_applications(draft, manifests, env=env, context=context)
    if git_url:
        if draft.git.get("url", git_url) != git_url:
            raise UsageError(f"--git-url {git_url} is not the Applications' repository, {draft.git['url']}")
        draft.git["url"] = git_url
    rollouts = [m for m in manifests if m.kind == "Rollout"]
    converter = _Converter(draft, Analyses(manifests, draft), {m.name: m for m in manifests if m.kind == "HTTPRoute"})
    for rollout in rollouts:
        app = dns_label(rollout.name)
        if sum(dns_label(r.name) == app for r in rollouts) > 1:
            raise UsageError(f"{rollout.where}: a second Rollout that would be app {app}")
        if app not in draft.apps:
            _environment_of(draft, rollout, app, path=path, env=env, context=context, several=len(rollouts) > 1)
        converter.convert(rollout, app)
    converter.analyses.convert_unused()
    _canary_for_the_rest(draft)
    for name, route in converter.routes.items():
        if name not in converter.used_routes:
            draft.note(route.subject, "spec", "read only for a Rollout's gatewayAPI plugin, and no Rollout names it")
    files = ", ".join(dict.fromkeys(m.file for m in manifests))
    return draft.finish([f"Imported by `gitopsctl import argo-rollouts` from {files}.", CHECK_IT])


def _environment_of(
    draft: ConfigDraft,
    rollout: Manifest,
    app: str,
    *,
    path: str | None,
    env: str | None,
    context: str | None,
    several: bool,
) -> None:
    """A Rollout without its Application: the repository and path from the options, the environment its namespace."""
    if not draft.git.get("url") or not path:
        raise UsageError(
            f"{rollout.where}: nothing says where Rollout {rollout.name}'s manifests are in Git; pass "
            f"{'--path PATH' if draft.git.get('url') else '--git-url URL and --path PATH'}, or the Argo CD "
            f"Application named {rollout.name}"
        )
    if several and "{app}" not in path:
        raise UsageError("--path must hold {app} when several Rollouts are imported, e.g. apps/{app}/{env}")
    namespace = rollout.namespace or "default"
    name = env or dns_label(namespace)
    if dns_label(name) != name:
        raise UsageError(f"--env {name!r} is not a DNS label (lowercase letters, digits and -)")
    environment = draft.environments.setdefault(name, {"context": context or IN_CLUSTER, "namespace": namespace})
    if environment["namespace"] != namespace:
        raise UsageError(
            f"{rollout.where}: Rollout {rollout.name} runs in namespace {namespace} and environment {name} is "
            f"namespace {environment['namespace']}; import them separately"
        )
    draft.apps[app] = {"path": path}
    draft.app_environments[app] = [name]


class _Converter:
    """Rollouts into the draft's apps, with the templates they use and the HTTPRoutes their plugin names."""

    def __init__(self, draft: ConfigDraft, analyses: Analyses, routes: Mapping[str, Manifest]) -> None:
        self.draft = draft
        self.analyses = analyses
        self.routes = routes
        self.used_routes: set[str] = set()

    def convert(self, rollout: Manifest, app: str) -> None:
        """The app's ``container`` and ``canary``; its environments run canaries when it has one."""
        environments = self.draft.app_environments[app]
        placeholders = {"app": app}
        if len(environments) == 1:  # env and namespace are this app's only where it has one environment
            namespace = self.draft.environments[environments[0]]["namespace"]
            placeholders |= {"namespace": namespace, "env": environments[0]}  # env is often named after it
        fields = Fields.of(rollout, self.draft.notes, ("apps", app))
        fields.skip("apiVersion", "kind", "status")
        metadata = fields.sub("metadata")
        metadata.skip(*OBJECT_METADATA)
        if app != rollout.name:
            metadata.note("name", f"the app is named {app}: gitopsctl's names are DNS labels", converted=True)
        spec = fields.sub("spec")
        container = _container(spec, app)
        if container:
            self.draft.apps[app]["container"] = container
        strategy = spec.sub("strategy")
        if strategy.has("canary"):
            self.draft.apps[app]["canary"] = self._canary(strategy.sub("canary"), rollout, placeholders)
            for name in environments:
                self.draft.environments[name]["strategy"] = "canary"
        fields.report_unread(REASONS)

    def _canary(self, canary: Fields, rollout: Manifest, placeholders: Mapping[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = self._router(canary.sub("trafficRouting"))
        # the steps' templates first: a template the background analysis uses with other arguments is the one renamed
        steps = [step for fields in canary.items("steps") for step in self._step(fields, rollout, placeholders)]
        if canary.has("analysis"):
            names = self._analysis(canary.sub("analysis"), rollout, placeholders)
            if names:
                out["background_analysis"] = names
        if not steps:
            canary.note("steps", "none imported: one step to 100%, as Argo Rollouts does without steps", converted=True)
            steps = [{"set_weight": 100}]
        out["steps"] = steps
        delay = canary.get("scaleDownDelaySeconds")
        if delay is not None:
            if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
                raise canary.fail("scaleDownDelaySeconds", f"must be a whole number of seconds (got {delay!r})")
            if out.get("traffic_router", "replicas") == "replicas":
                canary.note(
                    "scaleDownDelaySeconds", "gitopsctl's replicas router needs none: a Service follows ready pods"
                )
            elif delay > MAX_SCALE_DOWN_DELAY:
                canary.note("scaleDownDelaySeconds", "gitopsctl keeps a canary's pods for 10m at most", converted=True)
                out["scale_down_delay"] = "10m"
            else:
                out["scale_down_delay"] = f"{delay}s"
        return out

    def _step(self, step: Fields, rollout: Manifest, placeholders: Mapping[str, str]) -> list[dict[str, Any]]:
        """gitopsctl's steps for one Argo step: none (noted), one, or one per analysis metric."""
        if step.has("setWeight"):
            weight = step.get("setWeight")
            if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
                raise step.fail("setWeight", f"must be a whole number from 0 to 100 (got {weight!r})")
            return [{"set_weight": weight}]
        if step.has("pause"):
            return [{"pause": _pause(step)}]
        if step.has("analysis"):
            names = self._analysis(step.sub("analysis"), rollout, placeholders)
            if len(names) > 1:
                step.note(
                    "analysis",
                    f"{len(names)} metrics, measured one after the other: a gitopsctl analysis step measures one",
                    converted=True,
                )
            return [{"analysis": name} for name in names]
        if step.has("setCanaryScale"):
            scale = step.sub("setCanaryScale")
            if scale.data != {"matchTrafficWeight": True}:  # what gitopsctl always does
                scale.drop_all("gitopsctl scales the canary with its traffic weight")
            scale.skip("matchTrafficWeight")
        return []

    def _analysis(self, ref: Fields, rollout: Manifest, placeholders: Mapping[str, str]) -> list[str]:
        """The gitopsctl templates an analysis (a step's, or the background one) measures, in order."""
        args = _arguments(ref, rollout, placeholders)
        return [name for template in ref.items("templates") for name in self.analyses.use(template, args, placeholders)]

    def _router(self, routing: Fields) -> dict[str, Any]:
        """``traffic_router`` (and the Gateway for ``gateway``); the first router gitopsctl has wins, the rest are notes."""
        found: list[tuple[Fields, dict[str, Any]]] = []
        for key in ("istio", "nginx"):
            if routing.has(key):
                found.append((routing.sub(key), {"traffic_router": key}))  # its fields name Argo's own objects: notes
        plugins = routing.sub("plugins")
        if plugins.has(GATEWAY_PLUGIN):
            plugin = plugins.sub(GATEWAY_PLUGIN)
            gateway = self._gateway(plugin)
            if gateway is not None:
                found.append((plugin, {"traffic_router": "gateway", "gateway": gateway}))
        for fields, _ in found[1:]:
            fields.drop_all(f"gitopsctl routes through one router: {found[0][1]['traffic_router']} was taken")
        return found[0][1] if found else {}

    def _gateway(self, plugin: Fields) -> str | None:
        """The Gateway the plugin's HTTPRoute attaches to (NAME or NAMESPACE/NAME), when that route is among the files."""
        listed = plugin.items("httpRoutes")
        route_name = plugin.string("httpRoute") or (listed[0].string("name") if listed else None) or ""
        plugin.skip("namespace")
        for entry in listed:
            entry.skip(*entry.data)
        route = self.routes.get(route_name)
        spec = route.body.get("spec") if route is not None else None
        parents = spec.get("parentRefs") if isinstance(spec, dict) else None
        parent = parents[0] if isinstance(parents, list) and parents and isinstance(parents[0], dict) else {}
        name, namespace = parent.get("name"), parent.get("namespace")
        if parent.get("kind", "Gateway") != "Gateway" or not isinstance(name, str) or not name:
            plugin.drop_all(
                f"gitopsctl's gateway router attaches its own HTTPRoute to a Gateway: pass HTTPRoute {route_name}'s "
                'manifest too, or set traffic_router = "gateway" and gateway = "NAMESPACE/NAME"'
            )
            return None
        self.used_routes.add(route_name)
        plugin.note(
            "httpRoute" if plugin.has("httpRoute") else "httpRoutes",
            f"gitopsctl's gateway router writes its own HTTPRoute, <Service>-gitopsctl, attached to Gateway {name} as "
            f"{route_name} is",
            converted=True,
        )
        return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name


def _container(spec: Fields, app: str) -> str | None:
    """The container whose image tag is the version: the app's name by default, else the pod's only (or first) one."""
    template = spec.data.get("template")
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    names = [c["name"] for c in containers or () if isinstance(c, dict) and isinstance(c.get("name"), str)]
    if not names or app in names:
        return None
    if len(names) > 1:
        spec.note(
            "template.spec.containers",
            f"container = {names[0]}, the first of {len(names)}: the one whose image tag is the version",
            converted=True,
        )
    return names[0]


def _pause(step: Fields) -> Any:
    """A duration such as "2m", or {} for a pause until someone promotes."""
    pause = step.sub("pause")
    duration = pause.get("duration")
    if duration is None:
        return {}
    if isinstance(duration, str) and duration.strip().isdigit():
        duration = int(duration)
    if isinstance(duration, int) and not isinstance(duration, bool) and duration >= 0:
        return f"{duration}s"
    if isinstance(duration, str):
        try:
            parse_duration(duration)
        except ValueError as e:
            raise pause.fail("duration", f"{duration!r} is not a duration such as 30s, 2m or 1h") from e
        return duration.strip()
    raise pause.fail("duration", f"must be seconds or a duration such as 2m (got {duration!r})")


def _arguments(ref: Fields, rollout: Manifest, placeholders: Mapping[str, str]) -> dict[str, ArgValue]:
    """The argument values a Rollout passes to its templates."""
    args = {}
    for arg in ref.items("args"):
        name = arg.string("name", required=True) or ""
        if arg.has("value"):
            args[name] = arg_value(arg_text(arg), "the Rollout's value", placeholders)
            continue
        source = arg.sub("valueFrom")
        if source.has("podTemplateHashValue"):
            which = source.get("podTemplateHashValue")
            args[name] = ArgValue(
                missing=f"args.{name}, the {which} pod template hash, which gitopsctl's pods do not carry (select "
                "them with {{track}}, canary or stable, or the Deployments {{canary}} and {{stable}})"
            )
        elif source.has("fieldRef"):
            args[name] = _field_ref(source.sub("fieldRef"), name, rollout, placeholders)
        else:
            args[name] = ArgValue(missing=f"args.{name}, which has no value")
    return args


def _field_ref(ref: Fields, name: str, rollout: Manifest, placeholders: Mapping[str, str]) -> ArgValue:
    """A value from the Rollout's own metadata, read from the manifest."""
    path = ref.string("fieldPath", required=True) or ""
    metadata = rollout.body["metadata"]
    value: Any = None
    if path in ("metadata.name", "metadata.namespace"):
        value = metadata.get(path.partition(".")[2])
    elif path.startswith(("metadata.labels['", "metadata.annotations['")) and path.endswith("']"):
        table, _, key = path[len("metadata.") : -2].partition("['")
        value = (metadata.get(table) or {}).get(key) if isinstance(metadata.get(table), dict) else None
    if not isinstance(value, str):
        return ArgValue(missing=f"args.{name}, from {path}, which the Rollout's manifest does not hold")
    return arg_value(value, f"the Rollout's {path}", placeholders)


def _canary_for_the_rest(draft: ConfigDraft) -> None:
    """An app without a Rollout in an environment of canaries gets one step to 100%, as it was deployed before."""
    canaries = {name for name, e in draft.environments.items() if e.get("strategy") == "canary"}
    for app, values in draft.apps.items():
        if "canary" not in values and canaries & set(draft.app_environments.get(app, ())):
            values["canary"] = {"steps": [{"set_weight": 100}]}
            draft.note(
                f"app {app}",
                "(no Rollout)",
                "its environment runs canaries, so it has one step to 100%: the new version at once, as before",
                converted=True,
                table=("apps", app),
            )
