"""Sync hooks and waves, read from the annotations Argo CD (and Helm) repositories already carry.

A hook is an object annotated ``argocd.argoproj.io/hook`` (or ``gitopsctl.io/hook``)
with the phases it runs in: ``PreSync`` before anything is applied, ``Sync``
with its wave, ``PostSync`` once the app is Healthy, ``SyncFail`` when the sync
fails. ``Skip`` means the object is never applied. Helm charts' ``helm.sh/hook``
is read the way Argo CD reads it (pre-install/pre-upgrade: PreSync,
post-install/post-upgrade: PostSync). In a canary environment gitopsctl adds
``PreRollout`` (before the canary is created) and ``PostPromotion`` (once the
promotion's sync is Healthy); a sync never runs them. A hook is not part of what the app
declares: it is not diffed, reported as drift or pruned. Each sync creates its
hooks afresh, named ``<name>-<revision[:8]>``, and waits for each to finish (a
Job Complete, a Pod Succeeded, anything else Healthy); a Job that fails or
whose pod crash-loops fails the sync. Delete policies
(``argocd.argoproj.io/hook-delete-policy``): ``BeforeHookCreation`` (the default)
deletes the hook's objects from earlier syncs first, ``HookSucceeded`` and
``HookFailed`` delete it when it ends so.

Waves (``argocd.argoproj.io/sync-wave``, ``gitopsctl.io/sync-wave``, Helm's
``helm.sh/hook-weight`` for hooks): whole numbers, lowest first, 0 by default.
Inside a wave the kind stages still order the apply (plan.stage).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import waits
from ..cluster import health as health_checks
from ..cluster.client import Cluster
from ..config import HealthRule
from ..errors import ApiStatusError, ClusterError, ManifestError
from ..source.manifests import ObjectRef
from .tracking import APP_LABEL, ENV_LABEL, MANAGED_BY_LABEL, TRACKING_ANNOTATION

PRE_SYNC, SYNC, POST_SYNC, SYNC_FAIL, SKIP = "PreSync", "Sync", "PostSync", "SyncFail", "Skip"
PRE_ROLLOUT, POST_PROMOTION = "PreRollout", "PostPromotion"  # gitopsctl's own: a canary's first and last steps
PHASES = (PRE_SYNC, SYNC, POST_SYNC, SYNC_FAIL, PRE_ROLLOUT, POST_PROMOTION)
HOOK_ANNOTATIONS = ("gitopsctl.io/hook", "argocd.argoproj.io/hook")
DELETE_POLICY_ANNOTATIONS = ("gitopsctl.io/hook-delete-policy", "argocd.argoproj.io/hook-delete-policy")
WAVE_ANNOTATIONS = ("gitopsctl.io/sync-wave", "argocd.argoproj.io/sync-wave")
HELM_HOOK, HELM_DELETE_POLICY, HELM_WEIGHT = "helm.sh/hook", "helm.sh/hook-delete-policy", "helm.sh/hook-weight"
BEFORE_HOOK_CREATION, HOOK_SUCCEEDED, HOOK_FAILED = "BeforeHookCreation", "HookSucceeded", "HookFailed"
POLICIES = (BEFORE_HOOK_CREATION, HOOK_SUCCEEDED, HOOK_FAILED)
_HELM_PHASES = {
    "pre-install": PRE_SYNC,
    "pre-upgrade": PRE_SYNC,
    "post-install": POST_SYNC,
    "post-upgrade": POST_SYNC,
}
_HELM_POLICIES = {
    "before-hook-creation": BEFORE_HOOK_CREATION,
    "hook-succeeded": HOOK_SUCCEEDED,
    "hook-failed": HOOK_FAILED,
}
HOOK_LABEL = "gitopsctl.io/hook"  # on a live hook: its name in Git, to find the ones earlier syncs left
PHASE_ANNOTATION = "gitopsctl.io/hook-phase"
REVISION_ANNOTATION = "gitopsctl.io/revision"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
_WAVE = re.compile(r"^[+-]?\d{1,9}$")
_STUCK = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName")
SUCCEEDED, FAILED, RUNNING = "Succeeded", "Failed", "Running"


def _annotation(obj: dict[str, Any], names: Iterable[str]) -> str | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return next((str(annotations[n]) for n in names if n in annotations), None)


def _where(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('name') or meta.get('generateName') or '?'}"


def phases_of(obj: dict[str, Any]) -> tuple[str, ...]:
    """The phases an object runs in as a hook; () for an ordinary object, (Skip,) for one never applied."""
    text = _annotation(obj, HOOK_ANNOTATIONS)
    if text is None:
        helm = _annotation(obj, (HELM_HOOK,))
        if helm is None:
            return ()
        found = tuple(dict.fromkeys(_HELM_PHASES[h.strip()] for h in helm.split(",") if h.strip() in _HELM_PHASES))
        return found or (SKIP,)  # a Helm hook for an event a sync never is (pre-delete, test): not applied
    found = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    for phase in found:
        if phase not in (*PHASES, SKIP):
            raise ManifestError(
                f"{_where(obj)}: hook phase {phase!r} is not one gitopsctl runs ({', '.join((*PHASES, SKIP))}); "
                "PreDelete and PostDelete hooks are not supported"
            )
    return found


def is_hook(obj: dict[str, Any]) -> bool:
    """True for hooks and for objects marked Skip: neither is part of what a sync applies."""
    return bool(phases_of(obj))


def wave_of(obj: dict[str, Any]) -> int:
    names = (*WAVE_ANNOTATIONS, HELM_WEIGHT) if _annotation(obj, (HELM_HOOK,)) is not None else WAVE_ANNOTATIONS
    text = _annotation(obj, names)
    if text is None:
        return 0
    if not _WAVE.match(text.strip()):
        raise ManifestError(f'{_where(obj)}: sync wave {text!r} is not a whole number (e.g. "-1", "0", "5")')
    return int(text)


def policies_of(obj: dict[str, Any]) -> frozenset[str]:
    text = _annotation(obj, DELETE_POLICY_ANNOTATIONS)
    if text is None and (helm := _annotation(obj, (HELM_DELETE_POLICY,))) is not None:
        text = ",".join(_HELM_POLICIES.get(p.strip(), p.strip()) for p in helm.split(","))
    found = frozenset(p.strip() for p in (text or BEFORE_HOOK_CREATION).split(",") if p.strip())
    if unknown := sorted(found - set(POLICIES)):
        raise ManifestError(f"{_where(obj)}: hook delete policy {unknown[0]!r} is not one of {', '.join(POLICIES)}")
    return found


@dataclass(frozen=True)
class Hook:
    """A hook as this sync creates it: ``obj`` carries its per-revision name."""

    obj: dict[str, Any]
    source_name: str  # its name in Git
    phases: tuple[str, ...]
    wave: int
    policies: frozenset[str]

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.obj)


@dataclass
class HookRun:
    """What one hook did in one phase of one sync."""

    phase: str
    ref: ObjectRef
    wave: int
    result: str = RUNNING  # Succeeded | Failed
    message: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "kind": self.ref.kind,
            "namespace": self.ref.namespace or None,
            "name": self.ref.name,
            "wave": self.wave,
            "result": self.result,
            "message": self.message,
            "seconds": round(self.seconds, 1),
        }


def hook_name(source: str, revision: str) -> str:
    """``<name>-<revision[:8]>``, cut to 63 characters (a Job's name becomes its pods' label value)."""
    suffix = f"-{revision[:8]}"
    return source[: 63 - len(suffix)].rstrip("-.") + suffix


def hooks_of(objects: Iterable[dict[str, Any]], revision: str) -> list[Hook]:
    """The hooks among prepared objects, renamed for ``revision`` and untracked (they are never pruned)."""
    found = []
    for obj in objects:
        phases = phases_of(obj)
        if not phases or phases == (SKIP,):
            continue
        meta = dict(obj.get("metadata") or {})
        source = meta.get("name") or str(meta.get("generateName") or "").rstrip("-")
        if not source:
            raise ManifestError(f"{_where(obj)}: a hook needs metadata.name or metadata.generateName")
        meta.pop("generateName", None)
        meta["name"] = hook_name(source, revision)
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != MANAGED_BY_LABEL}
        meta["labels"] = {**labels, HOOK_LABEL: source[:63].rstrip("-.")}
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != TRACKING_ANNOTATION}
        meta["annotations"] = {**annotations, PHASE_ANNOTATION: ",".join(phases), REVISION_ANNOTATION: revision}
        found.append(Hook({**obj, "metadata": meta}, source, phases, wave_of(obj), policies_of(obj)))
    return found


def in_phase(hooks: Iterable[Hook], phase: str) -> dict[int, list[Hook]]:
    """A phase's hooks by wave, lowest first."""
    waves: dict[int, list[Hook]] = {}
    for hook in sorted(hooks, key=lambda h: (h.wave, h.ref.kind, h.ref.name)):
        if phase in hook.phases:
            waves.setdefault(hook.wave, []).append(hook)
    return dict(sorted(waves.items()))


# ------------------------------------------------------------------ running them


def outcome(cluster: Cluster, live: dict[str, Any] | None, rules: Mapping[str, HealthRule] | None) -> tuple[str, str]:
    """(Succeeded | Failed | Running, why) of one live hook; a Job whose pod cannot start has failed."""
    if live is None:
        return FAILED, "it is gone from the cluster"
    kind = live.get("kind")
    status = live.get("status") or {}
    if kind == "Job":
        conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
        if (conditions.get("Failed") or {}).get("status") == "True":
            failed = conditions["Failed"]
            return FAILED, f"{failed.get('reason') or 'Failed'}: {failed.get('message') or 'the Job failed'}"
        if (conditions.get("Complete") or {}).get("status") == "True":
            return SUCCEEDED, "completed"
        meta = live["metadata"]
        pods = cluster.list("v1", "Pod", meta.get("namespace"), label_selector=f"{JOB_NAME_LABEL}={meta['name']}")
        for pod in pods:
            if stuck := _stuck(pod):
                return FAILED, f"pod {pod['metadata']['name']}: {stuck}"
        return RUNNING, "running"
    if kind == "Pod" and live.get("apiVersion") == "v1":
        if status.get("phase") == "Succeeded":
            return SUCCEEDED, "completed"
        if status.get("phase") == "Failed" or (stuck := _stuck(live)):
            return FAILED, stuck if status.get("phase") != "Failed" else "the pod failed"
        return RUNNING, f"pod is {status.get('phase') or 'Pending'}"
    health = health_checks.assess(live, rules)
    if health.status == health_checks.HEALTHY:
        return SUCCEEDED, "Healthy"
    if health.status == health_checks.DEGRADED:
        return FAILED, health.message or "Degraded"
    return RUNNING, health.message or health.status


def _stuck(pod: dict[str, Any]) -> str:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _STUCK:
            return f"container {cs.get('name')} is in {waiting['reason']}"
    return ""


@dataclass
class PhaseRunner:
    """Runs hooks wave by wave: leftovers deleted, each created, all of a wave waited for, delete policies kept."""

    cluster: Cluster
    progress: Callable[[str], None]
    timeout: float  # for each phase
    rules: Mapping[str, HealthRule] | None = None
    runs: list[HookRun] = field(default_factory=list)
    deadline: float = 0.0

    def run(self, phase: str, hooks: list[Hook]) -> list[HookRun]:
        """Every hook of one wave, together; returns their runs (each Succeeded or Failed)."""
        phase_runs = []
        refused = {id(hook): why for hook in hooks if (why := self._clear(hook))}
        started = time.monotonic()
        for hook in hooks:
            run = HookRun(phase, hook.ref, hook.wave)
            try:
                if id(hook) in refused:
                    run.result, run.message = FAILED, refused[id(hook)]
                else:
                    self.cluster.create(hook.obj)
            except ApiStatusError as e:
                run.result, run.message = FAILED, f"could not be created: {e.message}"
            self.progress(f"{phase} hook {run.ref} " + ("started" if run.result == RUNNING else run.message))
            phase_runs.append(run)
            self.runs.append(run)
        waiting = [(h, r) for h, r in zip(hooks, phase_runs, strict=True) if r.result == RUNNING]
        while waiting:
            still = []
            for hook, run in waiting:
                ref = hook.ref
                result, message = outcome(
                    self.cluster,
                    self.cluster.get(ref.api_version, ref.kind, ref.name, ref.namespace or None),
                    self.rules,
                )
                if result == RUNNING and time.monotonic() >= self.deadline:
                    result, message = FAILED, f"did not finish in time ({message})"
                if result == RUNNING:
                    still.append((hook, run))
                    continue
                run.result, run.message, run.seconds = result, message, time.monotonic() - started
                self.progress(f"{run.phase} hook {ref} {result.lower()}" + (f": {message}" if result == FAILED else ""))
                if (HOOK_SUCCEEDED if result == SUCCEEDED else HOOK_FAILED) in hook.policies:
                    self.cluster.delete(ref.api_version, ref.kind, ref.name, ref.namespace or None)
            waiting = still
            if waiting:
                waits.sleep(0.25)
        return phase_runs

    def phase(self, phase: str, hooks: list[Hook]) -> HookRun | None:
        """Run a phase's hooks wave by wave; the first failed run (the rest of the phase is not started), or None."""
        waves = in_phase(hooks, phase)
        self.deadline = time.monotonic() + self.timeout
        for wave, members in waves.items():
            if len(waves) > 1:
                self.progress(f"{phase} wave {wave}: {len(members)} hook(s)")
            failed = next((r for r in self.run(phase, members) if r.result == FAILED), None)
            if failed is not None:
                return failed
        return None

    def _clear(self, hook: Hook) -> str | None:
        """Delete what must not be there when the hook is created: its own name from a sync of the same revision
        (always: a hook runs on every sync), and with BeforeHookCreation the ones earlier revisions left.

        An object of the hook's name that is not this hook (no labels saying so: someone else's Job) is never
        deleted: why the hook cannot run is returned instead."""
        ref = hook.ref
        labels = hook.obj["metadata"]["labels"]
        ours = {key: labels.get(key, "") for key in (APP_LABEL, ENV_LABEL, HOOK_LABEL)}
        existing = self.cluster.get(ref.api_version, ref.kind, ref.name, ref.namespace or None)
        if existing is not None:
            theirs = (existing.get("metadata") or {}).get("labels") or {}
            if any(theirs.get(key, "") != value for key, value in ours.items()):
                return (
                    f"{ref} already exists and is not this hook (its labels do not name {ours[APP_LABEL]} in "
                    f"{ours[ENV_LABEL]}): it is left alone; rename the hook in Git or remove that object"
                )
        doomed = {ref.name}
        if BEFORE_HOOK_CREATION in hook.policies:
            selector = ",".join(f"{key}={value}" for key, value in ours.items())
            doomed |= {
                o["metadata"]["name"]
                for o in self.cluster.list(ref.api_version, ref.kind, ref.namespace or None, selector)
            }
        for name in sorted(doomed):
            if self.cluster.delete(ref.api_version, ref.kind, name, ref.namespace or None):
                self.progress(
                    f"deleted the earlier hook {ref.kind} {ref.namespace + '/' if ref.namespace else ''}{name}"
                )
        gone_by = time.monotonic() + 30.0
        while self.cluster.get(ref.api_version, ref.kind, ref.name, ref.namespace or None) is not None:
            if time.monotonic() >= gone_by:
                raise ClusterError(f"the earlier {ref} is still being deleted after 30s; sync again once it is gone")
            waits.sleep(0.2)
        return None
