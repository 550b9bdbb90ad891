"""Simulated controllers: state behaves as if containers ran, without running any.

Like KWOK, the sandbox plays kube-controller-manager, the scheduler and the
kubelet. Deployments own ReplicaSets that own Pods; Pods become Ready after a
delay; an image whose tag ends in ``-crashloop`` never does (CrashLoopBackOff,
a growing restartCount, and ProgressDeadlineExceeded on its Deployment).
A Job's pod runs (Running, its containers ready) for ``Timing.run_time`` before it
succeeds, or fails for such an image (with ``restartPolicy: OnFailure`` it crash-loops
in place, and its restarts count against the Job's ``backoffLimit``); a Job active
longer than its ``activeDeadlineSeconds`` fails with DeadlineExceeded. StatefulSets, DaemonSets, ReplicationControllers,
Jobs and PVCs reach their ready or finished state likewise; every Namespace has a
``default`` ServiceAccount; deleting a Namespace empties it; owners' deletion cascades.

Every change is written through the API with the manager names the real
components use, so watches, managedFields and resourceVersions all behave.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .api import Api, now_rfc3339, parse_rfc3339
from .errors import ApiError
from .selectors import label_selector_from_match
from .store import Event

log = logging.getLogger(__name__)

CONTROLLER_MANAGER = "kube-controller-manager"
KUBELET = "kubelet"
NODE_NAME = "sandbox-node"
SCHEDULER = "default-scheduler"
CRASHLOOP_SUFFIX = "-crashloop"


@dataclass
class Timing:
    """How quickly simulated workloads come up; tests shorten these."""

    ready_delay: float = 1.0
    restart_interval: float = 2.0
    run_time: float = 1.0  # how long a Job's pod runs before it finishes


def _owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _controller_uid(obj: dict[str, Any]) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[int(digest[i : i + 2], 16) % len(alphabet)] for i in range(0, 20, 2))


def _restarts(pods: list[dict[str, Any]], template: dict[str, Any]) -> int:
    """Container restarts count against a Job's backoffLimit when its pods restart in place (OnFailure)."""
    if (template.get("spec") or {}).get("restartPolicy") != "OnFailure":
        return 0
    return sum(cs.get("restartCount", 0) for p in pods for cs in (p.get("status") or {}).get("containerStatuses") or [])


def _crashloops(pod_spec: dict[str, Any]) -> bool:
    return any(str(c.get("image", "")).endswith(CRASHLOOP_SUFFIX) for c in pod_spec.get("containers") or [])


def _image_id(image: str) -> str:
    digest = hashlib.sha256(image.encode()).hexdigest()
    return f"docker-pullable://{image.rsplit(':', 1)[0]}@sha256:{digest}"


def _container_status(container: dict[str, Any], **fields: Any) -> dict[str, Any]:
    image = str(container.get("image", ""))
    return {"name": container["name"], "image": image, "imageID": _image_id(image), **fields}


def _set_running(status: dict[str, Any], containers: list[dict[str, Any]], started: str) -> None:
    """A Running pod whose containers started at ``started`` and are ready (no probes: ready once started)."""
    status["containerStatuses"] = [
        _container_status(c, ready=True, started=True, restartCount=0, state={"running": {"startedAt": started}})
        for c in containers
    ]
    status["conditions"] = [
        {"type": t, "status": "True"} for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]


def _pod_ready(pod: dict[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _max_unavailable(dep: dict[str, Any], replicas: int) -> int:
    value = ((dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.floor(replicas * int(value[:-1]) / 100)
    return int(value)


class Controllers:
    """One thread that reconciles objects when they change and when timers fire."""

    def __init__(self, api: Api, timing: Timing | None = None) -> None:
        self.api = api
        self.timing = timing or Timing()
        self._queue: list[tuple[float, tuple[str, str, str]]] = []
        self._pending: dict[tuple[str, str, str], float] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-controllers", daemon=True)
        self.rt = {
            kind: api.registry.by_kind(av, kind)
            for av, kind in (
                ("v1", "Pod"),
                ("v1", "Namespace"),
                ("v1", "Event"),
                ("v1", "PersistentVolumeClaim"),
                ("v1", "Node"),
                ("v1", "ServiceAccount"),
                ("v1", "ReplicationController"),
                ("apps/v1", "Deployment"),
                ("apps/v1", "ReplicaSet"),
                ("apps/v1", "StatefulSet"),
                ("apps/v1", "DaemonSet"),
                ("batch/v1", "Job"),
            )
        }
        self._by_plural = {rt.storage_key: kind for kind, rt in self.rt.items()}
        self._running_since: dict[str, float] = {}  # pod uid -> when its run began (status stamps are whole seconds)
        api.store.subscribe(self._on_event)

    # ------------------------------------------------------------ scheduling

    def start(self) -> None:
        self._ensure_node()
        namespaces, _ = self.api.store.list(self.rt["Namespace"].storage_key)
        for ns in namespaces:  # before the API serves: clients find ``default`` at once
            self._ensure_default_service_account(ns)
        for key, obj in self.api.store.all_objects():
            kind = self._by_plural.get(key)
            if kind:
                self.enqueue(kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def enqueue(self, kind: str, namespace: str, name: str, delay: float = 0.0) -> None:
        due = time.monotonic() + delay
        key = (kind, namespace, name)
        with self._cond:
            if key in self._pending and self._pending[key] <= due:
                return
            self._pending[key] = due
            heapq.heappush(self._queue, (due, key))
            self._cond.notify()

    def _on_event(self, event: Event) -> None:
        kind = self._by_plural.get(event.storage_key)
        meta = event.obj["metadata"]
        namespace = meta.get("namespace", "")
        if event.type == "DELETED":
            self.enqueue("#gc", "", meta["uid"])
            if kind == "ServiceAccount" and meta["name"] == "default":  # its namespace's reconcile makes it again
                self.enqueue("Namespace", "", namespace)
        if kind is None:
            return
        if event.type != "DELETED":
            self.enqueue(kind, namespace, meta["name"])
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") in self.rt:
                self.enqueue(ref["kind"], namespace, ref["name"])

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._stop.is_set():
                    now = time.monotonic()
                    if self._queue and self._queue[0][0] <= now:
                        due, key = heapq.heappop(self._queue)
                        if self._pending.get(key) != due:
                            continue
                        del self._pending[key]
                        break
                    timeout = (self._queue[0][0] - now) if self._queue else None
                    self._cond.wait(timeout=timeout)
                else:
                    return
            kind, namespace, name = key
            try:
                self._reconcile(kind, namespace, name)
            except ApiError as e:
                if e.code == 409:
                    self.enqueue(kind, namespace, name, 0.05)
                elif e.code != 404:
                    log.warning("sandbox controller %s %s/%s: %s", kind, namespace, name, e.message)
            except Exception:  # a simulated controller must never die of one bad object
                log.exception("sandbox controller %s %s/%s failed", kind, namespace, name)

    def _reconcile(self, kind: str, namespace: str, name: str) -> None:
        if kind == "#gc":
            self._running_since.pop(name, None)
            with self.api.store.lock:
                self.api.collect_dependents(name)
            return
        obj = self.api.store.get(self.rt[kind].storage_key, namespace, name)
        if obj is None:
            return
        handler = getattr(self, f"_reconcile_{kind.lower()}", None)
        if handler is not None:
            handler(obj)

    # --------------------------------------------------------------- writes

    def _write_status(
        self, kind: str, obj: dict[str, Any], status: dict[str, Any], manager: str = CONTROLLER_MANAGER
    ) -> None:
        if obj.get("status") == status:
            return
        self.api.update(
            self.rt[kind],
            obj["metadata"].get("namespace"),
            obj["metadata"]["name"],
            {**obj, "status": status},
            manager=manager,
            subresource="status",
        )

    def _owned(self, kind: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        items, _ = self.api.store.list(self.rt[kind].storage_key, owner["metadata"].get("namespace", ""))
        uid = owner["metadata"]["uid"]
        return [o for o in items if _controller_uid(o) == uid and not o["metadata"].get("deletionTimestamp")]

    def record_event(self, obj: dict[str, Any], reason: str, message: str, type_: str = "Normal") -> None:
        """A core/v1 Event about ``obj``, counted up when it repeats, as the event recorder does."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        digest = hashlib.sha256(f"{meta['uid']}/{reason}/{message}".encode()).hexdigest()[:16]
        name = f"{meta['name']}.{digest}"
        rt = self.rt["Event"]
        stamp = now_rfc3339()
        existing = self.api.store.get(rt.storage_key, namespace, name)
        if existing is not None:
            updated = {**existing, "count": existing.get("count", 1) + 1, "lastTimestamp": stamp}
            self.api.update(rt, namespace, name, updated, manager=CONTROLLER_MANAGER)
            return
        if self.api.store.get(("", "namespaces"), "", namespace) is None:
            return
        self.api.create(
            rt,
            namespace,
            {
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "kind": obj["kind"],
                    "apiVersion": obj["apiVersion"],
                    "name": meta["name"],
                    "namespace": meta.get("namespace", ""),
                    "uid": meta["uid"],
                    "resourceVersion": meta.get("resourceVersion", ""),
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "count": 1,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "source": {"component": "deployment-controller" if obj["kind"] == "Deployment" else CONTROLLER_MANAGER},
                "reportingComponent": CONTROLLER_MANAGER,
            },
            manager=CONTROLLER_MANAGER,
        )

    def _ensure_node(self) -> None:
        rt = self.rt["Node"]
        if self.api.store.get(rt.storage_key, "", NODE_NAME) is not None:
            return
        node = self.api.create(
            rt,
            None,
            {
                "metadata": {
                    "name": NODE_NAME,
                    "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"},
                },
            },
            manager=KUBELET,
        )
        self._write_status(
            "Node",
            node,
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                    }
                ],
                "nodeInfo": {
                    "kubeletVersion": "v1.32.0-sandbox",
                    "kubeProxyVersion": "v1.32.0-sandbox",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "osImage": "gitopsctl sandbox",
                    "kernelVersion": "sandbox",
                    "containerRuntimeVersion": "sandbox://1.0",
                    "bootID": node["metadata"]["uid"],
                    "machineID": node["metadata"]["uid"].replace("-", ""),
                    "systemUUID": node["metadata"]["uid"],
                },
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            },
            manager=KUBELET,
        )

    # ------------------------------------------------------------ the pods

    def _create_pod(
        self, owner: dict[str, Any], template: dict[str, Any], name: str, extra_labels: dict[str, str]
    ) -> None:
        meta = copy.deepcopy(template.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), **extra_labels}
        meta.update({"name": name, "namespace": owner["metadata"]["namespace"], "ownerReferences": [_owner_ref(owner)]})
        spec = copy.deepcopy(template.get("spec") or {})
        spec["nodeName"] = NODE_NAME
        spec.setdefault("restartPolicy", "Always")
        try:
            self.api.create(
                self.rt["Pod"],
                owner["metadata"]["namespace"],
                {"metadata": meta, "spec": spec},
                manager=CONTROLLER_MANAGER,
            )
        except ApiError as e:
            if e.code != 409:
                raise

    def _delete(self, kind: str, obj: dict[str, Any]) -> None:
        try:
            self.api.delete(self.rt[kind], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        except ApiError as e:
            if e.code != 404:
                raise

    def _reconcile_pod(self, pod: dict[str, Any]) -> None:
        """The kubelet: start containers after the delay; crash-looping ones restart forever, a Job's finish."""
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            return
        status = pod.get("status") or {}
        phase = status.get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            return
        created = parse_rfc3339(meta.get("creationTimestamp"))
        age = time.time() - created
        if phase == "Pending" and age < self.timing.ready_delay:
            self.enqueue("Pod", meta["namespace"], meta["name"], self.timing.ready_delay - age + 0.01)
            return
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):  # the scheduler binds it first (a pod made by hand: kubectl run)
            bound = {**pod, "spec": {**spec, "nodeName": NODE_NAME}}
            self.api.update(self.rt["Pod"], meta["namespace"], meta["name"], bound, manager=SCHEDULER)
            return
        crash = _crashloops(spec)
        stamp = status.get("startTime") or now_rfc3339()
        uid_bytes = hashlib.sha256(meta["uid"].encode()).digest()
        new_status: dict[str, Any] = {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": f"10.244.{uid_bytes[0]}.{uid_bytes[1] % 254 + 1}",
            "startTime": stamp,
            "qosClass": status.get("qosClass", "BestEffort"),
        }
        containers = spec.get("containers") or []
        restart = spec.get("restartPolicy", "Always")
        if restart == "Never" or (restart == "OnFailure" and not crash):
            self._run_to_completion(pod, new_status, crash)
            return  # OnFailure restarts a crashing container in its pod, as Always does
        if crash:
            previous = {cs["name"]: cs.get("restartCount", 0) for cs in status.get("containerStatuses") or []}
            restarts = int(max(0.0, age - self.timing.ready_delay) // self.timing.restart_interval)
            restarts = max([restarts, *previous.values()])
            # the run that just crashed (kubectl logs shows it), at once after its start
            crashed = now_rfc3339(
                lambda: min(time.time(), created + self.timing.ready_delay + restarts * self.timing.restart_interval)
            )
            new_status["containerStatuses"] = [
                _container_status(
                    c,
                    ready=False,
                    started=False,
                    restartCount=restarts,
                    state={
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off restarting failed container {c['name']} in pod {meta['name']}",
                        }
                    },
                    lastState={
                        "terminated": {"exitCode": 1, "reason": "Error", "startedAt": crashed, "finishedAt": crashed}
                    },
                )
                for c in containers
            ]
            new_status["conditions"] = [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ContainersNotReady",
                    "message": "containers with unready status: [" + " ".join(c["name"] for c in containers) + "]",
                },
            ]
            if not status.get("containerStatuses"):
                self.record_event(pod, "BackOff", "Back-off restarting failed container", "Warning")
            self.enqueue("Pod", meta["namespace"], meta["name"], self.timing.restart_interval)
        else:
            _set_running(new_status, containers, stamp)
        self._write_status("Pod", pod, new_status, manager=KUBELET)

    def _run_to_completion(self, pod: dict[str, Any], new_status: dict[str, Any], crash: bool) -> None:
        """A Job's pod: Running with its containers ready for ``run_time``, then Succeeded, or Failed if it crashes.

        Each phase is its own write, so a watch sees Pending, Running and the end.
        """
        meta = pod["metadata"]
        containers = (pod.get("spec") or {}).get("containers") or []
        uid = meta["uid"]
        if (pod.get("status") or {}).get("phase") != "Running":
            self._running_since[uid] = time.time()
            _set_running(new_status, containers, new_status["startTime"])
            self._write_status("Pod", pod, new_status, manager=KUBELET)
            self.enqueue("Pod", meta["namespace"], meta["name"], self.timing.run_time)
            return
        started = new_status["startTime"]
        elapsed = time.time() - self._running_since.get(uid, parse_rfc3339(started))
        if elapsed < self.timing.run_time:
            self.enqueue("Pod", meta["namespace"], meta["name"], self.timing.run_time - elapsed + 0.01)
            return
        self._running_since.pop(uid, None)
        finished = now_rfc3339()
        new_status["phase"] = "Failed" if crash else "Succeeded"
        new_status["containerStatuses"] = [
            _container_status(
                c,
                ready=False,
                restartCount=0,
                started=False,
                state={
                    "terminated": {
                        "exitCode": 1 if crash else 0,
                        "reason": "Error" if crash else "Completed",
                        "startedAt": started,
                        "finishedAt": finished,
                    }
                },
            )
            for c in containers
        ]
        new_status["conditions"] = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True", "reason": "PodCompleted"},
            {"type": "ContainersReady", "status": "False", "reason": "PodCompleted"},
            {"type": "Ready", "status": "False", "reason": "PodCompleted"},
        ]
        self._write_status("Pod", pod, new_status, manager=KUBELET)

    # ------------------------------------------- ReplicaSets, ReplicationControllers

    def _reconcile_replicaset(self, rs: dict[str, Any]) -> None:
        self._replicate("ReplicaSet", rs, label_selector_from_match(rs["spec"].get("selector")))

    def _reconcile_replicationcontroller(self, rc: dict[str, Any]) -> None:
        """A ReplicaSet whose ``spec.selector`` is a plain map, defaulting to the template's labels."""
        selector = rc["spec"].get("selector") or ((rc["spec"].get("template") or {}).get("metadata") or {}).get(
            "labels"
        )
        self._replicate("ReplicationController", rc, label_selector_from_match({"matchLabels": selector or {}}))

    def _replicate(self, kind: str, rs: dict[str, Any], selector: Callable[[dict[str, str]], bool]) -> None:
        if rs["metadata"].get("deletionTimestamp"):
            return
        pods = [p for p in self._owned("Pod", rs) if selector(p["metadata"].get("labels") or {})]
        want = rs["spec"].get("replicas", 1)
        if len(pods) < want:
            for _ in range(want - len(pods)):
                suffix = "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                self._create_pod(rs, rs["spec"]["template"], f"{rs['metadata']['name']}-{suffix}", {})
            self.record_event(rs, "SuccessfulCreate", f"Created {want - len(pods)} pod(s)")
            return
        if len(pods) > want:
            for pod in sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)[: len(pods) - want]:
                self._delete("Pod", pod)
            self.record_event(rs, "SuccessfulDelete", f"Deleted {len(pods) - want} pod(s)")
            return
        ready = sum(1 for p in pods if _pod_ready(p))
        self._write_status(
            kind,
            rs,
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": rs["metadata"].get("generation", 1),
            },
        )

    # -------------------------------------------------------- Deployments

    def _reconcile_deployment(self, dep: dict[str, Any]) -> None:
        if dep["metadata"].get("deletionTimestamp"):
            return
        spec = dep["spec"]
        template = spec["template"]
        pod_hash = _template_hash(template)
        replica_sets = self._owned("ReplicaSet", dep)
        new_rs = next(
            (rs for rs in replica_sets if rs["metadata"].get("labels", {}).get("pod-template-hash") == pod_hash), None
        )
        old_sets = [rs for rs in replica_sets if rs is not new_rs]
        want = spec.get("replicas", 1)
        revision = 1 + max(
            (
                int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0"))
                for rs in replica_sets
            ),
            default=0,
        )
        if new_rs is None:
            rs_template = copy.deepcopy(template)
            labels = {**(template.get("metadata") or {}).get("labels", {}), "pod-template-hash": pod_hash}
            rs_template.setdefault("metadata", {})["labels"] = labels
            selector = copy.deepcopy(spec["selector"])
            selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
            self.api.create(
                self.rt["ReplicaSet"],
                dep["metadata"]["namespace"],
                {
                    "metadata": {
                        "name": f"{dep['metadata']['name']}-{pod_hash}",
                        "namespace": dep["metadata"]["namespace"],
                        "labels": labels,
                        "ownerReferences": [_owner_ref(dep)],
                        "annotations": {
                            "deployment.kubernetes.io/revision": str(revision),
                            "deployment.kubernetes.io/desired-replicas": str(want),
                        },
                    },
                    "spec": {"replicas": want, "selector": selector, "template": rs_template},
                },
                manager=CONTROLLER_MANAGER,
            )
            self.record_event(
                dep, "ScalingReplicaSet", f"Scaled up replica set {dep['metadata']['name']}-{pod_hash} to {want}"
            )
            self._set_progress(
                dep, "NewReplicaSetCreated", f'Created new replica set "{dep["metadata"]["name"]}-{pod_hash}"'
            )
            return
        if new_rs["spec"].get("replicas") != want:
            self._scale(new_rs, want)
            self.record_event(dep, "ScalingReplicaSet", f"Scaled replica set {new_rs['metadata']['name']} to {want}")
            return
        new_status = new_rs.get("status") or {}
        new_available = new_status.get("availableReplicas", 0)
        rolled_out = new_available >= want and new_status.get("replicas", 0) == want
        if rolled_out:
            for rs in old_sets:
                if rs["spec"].get("replicas", 0) != 0:
                    self._scale(rs, 0)
                    self.record_event(
                        dep, "ScalingReplicaSet", f"Scaled down replica set {rs['metadata']['name']} to 0"
                    )
        self._update_deployment_status(dep, new_rs, old_sets, rolled_out)

    def _scale(self, rs: dict[str, Any], replicas: int) -> None:
        updated = copy.deepcopy(rs)
        updated["spec"]["replicas"] = replicas
        self.api.update(
            self.rt["ReplicaSet"],
            rs["metadata"]["namespace"],
            rs["metadata"]["name"],
            updated,
            manager=CONTROLLER_MANAGER,
        )

    def _set_progress(self, dep: dict[str, Any], reason: str, message: str) -> None:
        status = copy.deepcopy(dep.get("status") or {})
        stamp = now_rfc3339()
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Progressing"]
        conditions.append(
            {
                "type": "Progressing",
                "status": "True",
                "reason": reason,
                "message": message,
                "lastUpdateTime": stamp,
                "lastTransitionTime": stamp,
            }
        )
        status["conditions"] = conditions
        status["observedGeneration"] = dep["metadata"].get("generation", 1)
        status["updatedReplicas"] = 0  # the new generation's ReplicaSet was just created: none of its pods run yet
        self._write_status("Deployment", dep, status)

    def _update_deployment_status(self, dep, new_rs, old_sets, rolled_out: bool) -> None:
        spec, name = dep["spec"], dep["metadata"]["name"]
        want = spec.get("replicas", 1)
        sets = [new_rs, *old_sets]
        replicas = sum((rs.get("status") or {}).get("replicas", 0) for rs in sets)
        ready = sum((rs.get("status") or {}).get("readyReplicas", 0) for rs in sets)
        available = sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in sets)
        updated = (new_rs.get("status") or {}).get("replicas", 0)
        old = dep.get("status") or {}
        conditions = {c["type"]: c for c in old.get("conditions") or []}
        stamp = now_rfc3339()

        def condition(type_: str, ok: bool, reason: str, message: str, progress: bool = False) -> dict[str, Any]:
            previous = conditions.get(type_) or {}
            status_text = "True" if ok else "False"
            same = previous.get("status") == status_text and previous.get("reason") == reason
            return {
                "type": type_,
                "status": status_text,
                "reason": reason,
                "message": message,
                "lastUpdateTime": stamp if (progress or not same) else previous.get("lastUpdateTime", stamp),
                "lastTransitionTime": previous.get("lastTransitionTime", stamp)
                if previous.get("status") == status_text
                else stamp,
            }

        minimum = want - _max_unavailable(dep, want)
        available_cond = condition(
            "Available",
            available >= minimum,
            "MinimumReplicasAvailable" if available >= minimum else "MinimumReplicasUnavailable",
            "Deployment has minimum availability."
            if available >= minimum
            else "Deployment does not have minimum availability.",
        )
        rs_name = new_rs["metadata"]["name"]
        previous_progress = conditions.get("Progressing") or {}
        if rolled_out and replicas == want:
            progressing = condition(
                "Progressing", True, "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.'
            )
        else:
            made_progress = (available, updated, ready) != (
                old.get("availableReplicas", 0),
                old.get("updatedReplicas", 0),
                old.get("readyReplicas", 0),
            )
            last_progress = parse_rfc3339(previous_progress.get("lastUpdateTime")) or time.time()
            deadline = spec.get("progressDeadlineSeconds", 600)
            if previous_progress.get("reason") == "ProgressDeadlineExceeded" and not made_progress:
                progressing = previous_progress
            elif not made_progress and time.time() - last_progress > deadline:
                progressing = condition(
                    "Progressing",
                    False,
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                )
                self.record_event(
                    dep, "ProgressDeadlineExceeded", f'Deployment "{name}" has timed out progressing.', "Warning"
                )
            else:
                progressing = condition(
                    "Progressing",
                    True,
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                    progress=made_progress,
                )
                due = parse_rfc3339(progressing["lastUpdateTime"]) + deadline - time.time() + 0.05
                self.enqueue("Deployment", dep["metadata"]["namespace"], name, max(0.05, due))
        status = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": [available_cond, progressing],
        }
        if want - available > 0:
            status["unavailableReplicas"] = want - available
        status = {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}
        self._write_status("Deployment", dep, status)

    # --------------------------------------------------- StatefulSets, DaemonSets

    def _reconcile_statefulset(self, sts: dict[str, Any]) -> None:
        if sts["metadata"].get("deletionTimestamp"):
            return
        name, want = sts["metadata"]["name"], sts["spec"].get("replicas", 1)
        revision = f"{name}-{_template_hash(sts['spec']['template'])}"
        pods = {p["metadata"]["name"]: p for p in self._owned("Pod", sts)}
        for ordinal in range(want):
            pod_name = f"{name}-{ordinal}"
            pod = pods.pop(pod_name, None)
            if pod is not None and pod["metadata"].get("labels", {}).get("controller-revision-hash") != revision:
                self._delete("Pod", pod)
                return
            if pod is None:
                self._create_pod(
                    sts,
                    sts["spec"]["template"],
                    pod_name,
                    {"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod_name},
                )
        for extra in pods.values():
            self._delete("Pod", extra)
        owned = self._owned("Pod", sts)
        ready = sum(1 for p in owned if _pod_ready(p))
        self._write_status(
            "StatefulSet",
            sts,
            {
                "observedGeneration": sts["metadata"].get("generation", 1),
                "replicas": len(owned),
                "readyReplicas": ready,
                "currentReplicas": len(owned),
                "updatedReplicas": len(owned),
                "availableReplicas": ready,
                "currentRevision": revision,
                "updateRevision": revision,
                "collisionCount": 0,
            },
        )

    def _reconcile_daemonset(self, ds: dict[str, Any]) -> None:
        if ds["metadata"].get("deletionTimestamp"):
            return
        revision = _template_hash(ds["spec"]["template"])
        pods = self._owned("Pod", ds)
        current = [p for p in pods if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision]
        for stale in pods:
            if stale not in current:
                self._delete("Pod", stale)
        if not current:
            self._create_pod(
                ds,
                ds["spec"]["template"],
                f"{ds['metadata']['name']}-{revision[:5]}",
                {"controller-revision-hash": revision},
            )
            return
        ready = sum(1 for p in current if _pod_ready(p))
        self._write_status(
            "DaemonSet",
            ds,
            {
                "observedGeneration": ds["metadata"].get("generation", 1),
                "desiredNumberScheduled": 1,
                "currentNumberScheduled": 1,
                "updatedNumberScheduled": 1,
                "numberReady": ready,
                "numberAvailable": ready,
                "numberMisscheduled": 0,
                **({"numberUnavailable": 1} if not ready else {}),
            },
        )

    # ------------------------------------------------------------------ Jobs

    def _reconcile_job(self, job: dict[str, Any]) -> None:
        """The Job controller of Kubernetes 1.32: the interim condition (SuccessCriteriaMet or FailureTarget)
        before the terminal one, both with the same reason, and ``ready``/``terminating`` counted."""
        if job["metadata"].get("deletionTimestamp"):
            return
        status = job.get("status") or {}
        if any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in status.get("conditions") or []
        ):
            return
        spec = job["spec"]
        pods = self._owned("Pod", job)
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        completions, backoff = spec.get("completions", 1), spec.get("backoffLimit", 6)
        stamp = now_rfc3339()
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_rfc3339(status["startTime"]) if status.get("startTime") else time.time()
        left = deadline - (time.time() - started) if deadline is not None else math.inf
        new_status: dict[str, Any] = {
            "startTime": status.get("startTime") or stamp,
            "ready": sum(1 for p in active if _pod_ready(p)),
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }

        def finished(interim: str, terminal: str, reason: str, message: str) -> list[dict[str, Any]]:
            return [
                {
                    "type": type_,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                }
                for type_ in (interim, terminal)
            ]

        if succeeded >= completions:
            new_status.update(
                {
                    "succeeded": succeeded,
                    "completionTime": stamp,
                    "conditions": finished(
                        "SuccessCriteriaMet",
                        "Complete",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    ),
                }
            )
        elif (over_backoff := failed + _restarts(active, spec["template"]) > backoff) or left <= 0:
            for pod in active:  # the Job has failed: its running pods are terminated
                self._delete("Pod", pod)
            reason, message = (
                ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
                if over_backoff
                else ("DeadlineExceeded", "Job was active longer than specified deadline")
            )
            new_status.update(
                {"failed": failed + len(active), "conditions": finished("FailureTarget", "Failed", reason, message)}
            )
        else:
            if deadline is not None:  # looked at again when its time is up, whatever its pods do meanwhile
                self.enqueue("Job", job["metadata"].get("namespace", ""), job["metadata"]["name"], left + 0.01)
            missing = min(spec.get("parallelism", 1), completions - succeeded) - len(active)
            for _ in range(max(0, missing)):
                suffix = "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                name, uid = job["metadata"]["name"], job["metadata"]["uid"]
                labels = {  # what the Job controller labels its pods with (kubectl get pods -l job-name=...)
                    "batch.kubernetes.io/controller-uid": uid,
                    "batch.kubernetes.io/job-name": name,
                    "controller-uid": uid,
                    "job-name": name,
                }
                self._create_pod(job, spec["template"], f"{name}-{suffix}", labels)
            new_status.update(
                {
                    k: v
                    for k, v in (
                        ("active", len(active) + max(0, missing)),
                        ("succeeded", succeeded),
                        ("failed", failed),
                    )
                    if v
                }
            )
        self._write_status("Job", job, new_status)

    # ----------------------------------------------------- PVCs, Namespaces

    def _reconcile_persistentvolumeclaim(self, pvc: dict[str, Any]) -> None:
        if (pvc.get("status") or {}).get("phase") == "Bound":
            return
        requests = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
        self._write_status(
            "PersistentVolumeClaim",
            pvc,
            {
                "phase": "Bound",
                "accessModes": pvc.get("spec", {}).get("accessModes", ["ReadWriteOnce"]),
                "capacity": {"storage": requests.get("storage", "1Gi")},
            },
        )

    def _reconcile_namespace(self, ns: dict[str, Any]) -> None:
        """Namespace deletion: delete everything in it, then the namespace itself."""
        if not ns["metadata"].get("deletionTimestamp"):
            self._ensure_default_service_account(ns)
            return
        name = ns["metadata"]["name"]
        with self.api.store.lock:
            for key, obj in self.api.store.namespaces_in_use(name):
                self.api.store.delete(key, name, obj["metadata"]["name"])
            if not ns["metadata"].get("finalizers"):
                self.api.store.delete(self.rt["Namespace"].storage_key, "", name)

    def _ensure_default_service_account(self, ns: dict[str, Any]) -> None:
        """The ServiceAccount controller: a live namespace has a ``default`` ServiceAccount, which pods without
        ``serviceAccountName``, ``kubectl create token default`` and Helm charts take for granted."""
        rt = self.rt["ServiceAccount"]
        name = ns["metadata"]["name"]
        if ns["metadata"].get("deletionTimestamp") or self.api.store.get(rt.storage_key, name, "default") is not None:
            return
        try:
            self.api.create(rt, name, {"metadata": {"name": "default"}}, manager=CONTROLLER_MANAGER)
        except ApiError as e:
            if e.code not in (403, 404, 409):  # the namespace went, or is going, or another write made it
                raise
