"""Event-driven drift: informers on the objects gitopsctl manages, so a hand-made change is seen in seconds.

One ``kubernetes.informer.SharedInformer`` per (kind, namespace) the fleet has,
selecting gitopsctl's tracked objects by label. The informer resumes its watch
from the last resourceVersion and lists again after 410 Gone. A modified or
deleted object names its app and environment (the tracking annotation); a
check of that app follows after a short debounce, so one apply of many objects
is one check. Each environment's sync records are watched too: a delivery
that changes nothing live (an adoption, which commits what already runs) is
checked when its record is written, so its drift report resolves at once. The
scheduled scan stays the safety net, and covers kinds the typed client cannot
watch (custom resources).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from kubernetes import client as k8s
from kubernetes.informer import DELETED, MODIFIED, SharedInformer
from kubernetes.informer.cache import ObjectCache

from ..cluster.records import RECORD_LABEL
from ..errors import GitOpsError
from ..sync.tracking import TRACKED_SELECTOR, TRACKING_ANNOTATION

if TYPE_CHECKING:
    from ..engine import Engine

log = logging.getLogger(__name__)
DEBOUNCE = 0.3

# (apiVersion, kind) -> (typed API class, namespaced list method)
LIST_FUNCTIONS: dict[tuple[str, str], tuple[type, str]] = {
    ("v1", "ConfigMap"): (k8s.CoreV1Api, "list_namespaced_config_map"),
    ("v1", "Secret"): (k8s.CoreV1Api, "list_namespaced_secret"),
    ("v1", "Service"): (k8s.CoreV1Api, "list_namespaced_service"),
    ("v1", "ServiceAccount"): (k8s.CoreV1Api, "list_namespaced_service_account"),
    ("v1", "PersistentVolumeClaim"): (k8s.CoreV1Api, "list_namespaced_persistent_volume_claim"),
    ("apps/v1", "Deployment"): (k8s.AppsV1Api, "list_namespaced_deployment"),
    ("apps/v1", "StatefulSet"): (k8s.AppsV1Api, "list_namespaced_stateful_set"),
    ("apps/v1", "DaemonSet"): (k8s.AppsV1Api, "list_namespaced_daemon_set"),
    ("batch/v1", "Job"): (k8s.BatchV1Api, "list_namespaced_job"),
    ("networking.k8s.io/v1", "Ingress"): (k8s.NetworkingV1Api, "list_namespaced_ingress"),
}


def _slim(obj) -> dict:
    """What the watcher needs of an object: its name and its tracking annotation (a sync record's: its labels')."""
    meta = obj.metadata
    labels = meta.labels or {}
    tracking = (meta.annotations or {}).get(TRACKING_ANNOTATION)
    if labels.get(RECORD_LABEL) == "sync":
        tracking = f"{labels.get('gitopsctl.io/app', '')}/{labels.get('gitopsctl.io/env', '')}"
    return {
        "metadata": {"name": meta.name, "namespace": meta.namespace, "annotations": {TRACKING_ANNOTATION: tracking}}
    }


class _SlimCache(ObjectCache):
    """The informer's cache with names and tracking ids only: the fleet's full objects (Secrets too) are not kept."""

    def _put(self, obj):
        super()._put(_slim(obj))

    def _replace_all(self, objects):
        super()._replace_all([_slim(o) for o in objects])


def _tracking(obj) -> str:
    """``APP/ENV`` of a tracked object, or of a sync record."""
    if isinstance(obj, dict):
        return ((obj.get("metadata") or {}).get("annotations") or {}).get(TRACKING_ANNOTATION) or ""
    return ((_slim(obj)["metadata"]["annotations"]) or {}).get(TRACKING_ANNOTATION) or ""


_THREAD_NUMBERS = itertools.count(1)
_STOPPED_THREADS: set[str] = set()


class _QuietAfterStop(logging.Filter):
    """A stopped informer whose connection then closes logs a traceback: expected then, not news.

    Only the threads of stopped watchers are muted; running ones still report their errors.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName not in _STOPPED_THREADS


logging.getLogger("kubernetes.informer.informer").addFilter(_QuietAfterStop())


class DriftWatcher:
    def __init__(self, engine: Engine, on_change: Callable[[str, str], None], debounce: float = DEBOUNCE) -> None:
        self.workspace = engine.workspace  # the repository, the clusters and each app's desired state
        self.on_change = on_change
        self.debounce = debounce
        self._informers: list[SharedInformer] = []
        self._timers: dict[tuple[str, str], threading.Timer] = {}
        self._lock = threading.Lock()

    def targets(self) -> set[tuple[str, str, str, str]]:
        """(env, namespace, apiVersion, kind) for every watchable kind an app has in Git."""
        sha = self.workspace.repo.resolve()
        found = set()
        for spec, environment in self.workspace.pairs():
            try:
                desired = self.workspace.desired(spec, environment, sha)[1]
            except GitOpsError as e:  # one broken or refused app is reported by the scans; the rest are watched
                log.warning("not watching %s in %s: %s", spec.name, environment.name, e)
                continue
            for obj in desired:
                key = (obj["apiVersion"], obj["kind"])
                namespace = (obj.get("metadata") or {}).get("namespace")
                if key in LIST_FUNCTIONS and namespace:
                    found.add((environment.name, namespace, *key))
        return found

    def start(self) -> DriftWatcher:
        records = {
            (e.name, e.namespace, "v1", "ConfigMap", f"{RECORD_LABEL}=sync")
            for e in self.workspace.config.environments.values()
        }
        watched = {(*target, TRACKED_SELECTOR) for target in self.targets()}
        for env, namespace, api_version, kind, selector in sorted(watched | records):
            environment = self.workspace.config.environments[env]
            api_class, method = LIST_FUNCTIONS[(api_version, kind)]
            api = api_class(self.workspace.cluster(environment).dynamic.client)
            informer = SharedInformer(getattr(api, method), namespace=namespace, label_selector=selector)
            informer._cache = _SlimCache()  # the library keeps whole objects; relists need only their keys
            informer.add_event_handler(MODIFIED, self._event)
            informer.add_event_handler(DELETED, self._event)
            informer.start()
            informer._thread.name = f"drift-watch-{next(_THREAD_NUMBERS)}"  # named, so its last words can be muted
            self._informers.append(informer)
        log.info("watching %d (kind, namespace) pairs for hand-made changes", len(self._informers))
        return self

    def stop(self) -> None:
        for informer in self._informers:
            _STOPPED_THREADS.add(informer._thread.name)
            informer._stop_event.set()  # do not wait here for a long-poll to end; the threads are daemons
            if informer._watch is not None:
                informer._watch.stop()
        self._informers = []
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    def _event(self, obj) -> None:
        app, _, env = _tracking(obj).partition("/")
        if not app or env not in self.workspace.config.environments:
            return
        key = (app, env)
        with self._lock:
            if key in self._timers:
                self._timers[key].cancel()
            timer = threading.Timer(self.debounce, self._fire, args=key)
            timer.daemon = True
            self._timers[key] = timer
            timer.start()

    def _fire(self, app: str, env: str) -> None:
        with self._lock:
            self._timers.pop((app, env), None)
        try:
            self.on_change(app, env)
        except Exception:
            log.exception("checking %s in %s after a change failed", app, env)
