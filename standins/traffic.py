"""The traffic simulator: request metrics for every app the sandbox runs, as Prometheus scrapes them.

For each app/environment (Deployments labelled ``gitopsctl.io/app`` and
``gitopsctl.io/env``) it splits a steady request rate between the stable and
canary tracks by the weights actually set in the sandbox: route weights when a
VirtualService, HTTPRoute or NGINX canary Ingress for the app says so, else the
ratio of ready endpoints. A track's endpoints are its Ready pods that are not
terminating (as an EndpointSlice lists them): a request routed to a track with
none fails with 503, as a mesh's "no healthy upstream" or a Service without
endpoints does, and is counted apart (``no_endpoint``) from the version's own
errors. Each track behaves by its image tag: ``-bad`` answers 20% with 5xx,
``-flaky`` 3% (between the 95% and 99% of a typical pair of conditions),
``-slow`` has a p99 of 1.5 s, anything else 0.1% errors and a p99 of 120 ms.
Errors are spread evenly at exactly that rate, so a query's window always sees
it; latencies are random.
Exported at ``/metrics`` (Prometheus) and ``/stats.json`` (each serving track's
success rate and p99 measured over the requests of the last ``STATS_WINDOW``
seconds, as a web metric provider would read them). Each request served
is also an access-log line of the pod that served it (round robin over the
track's endpoints), written where ``kubectl logs`` reads a container's output
(kubesandbox/output.py).
"""

from __future__ import annotations

import json
import math
import random
import statistics
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kubesandbox.store import Store

APP_LABEL, ENV_LABEL, TRACK_LABEL = "gitopsctl.io/app", "gitopsctl.io/env", "gitopsctl.io/track"
BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
REQUESTS_PER_SECOND = 50.0
TICK = 0.25
STATS_WINDOW = 3.0  # seconds of requests /stats.json measures its rates over
FORGET_EVERY = 40  # ticks


@dataclass(frozen=True)
class Behaviour:
    error_rate: float
    p99: float


def behaviour(image: str) -> Behaviour:
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    if tag.endswith("-bad"):
        return Behaviour(0.20, 0.12)
    if tag.endswith("-flaky"):
        return Behaviour(0.03, 0.12)
    if tag.endswith("-slow"):
        return Behaviour(0.001, 1.5)
    return Behaviour(0.001, 0.12)


@dataclass
class Track:
    app: str
    env: str
    namespace: str
    track: str
    image: str
    ready: int  # endpoints: Ready pods that are not terminating
    weight: float = 0.0  # share of the app's requests served here
    unserved: float = 0.0  # share routed here while it has no endpoint: those requests fail
    pods: tuple[tuple[str, str], ...] = ()  # the endpoints as (pod uid, the app's container name)


def endpoints(store: Store, namespace: str) -> dict[str, int]:
    """Ready, not terminating pods by the uid of the Deployment that runs them (through its ReplicaSets)."""
    return {owner: len(pods) for owner, pods in ready_pods(store, namespace).items()}


def ready_pods(store: Store, namespace: str) -> dict[str, list[dict[str, Any]]]:
    """The endpoints themselves: Ready, not terminating pods by their Deployment's uid."""
    replica_sets, _ = store.list(("apps", "replicasets"), namespace)
    deployment_of = {
        rs["metadata"]["uid"]: ref["uid"]
        for rs in replica_sets
        for ref in rs["metadata"].get("ownerReferences") or []
        if ref.get("controller") and ref.get("kind") == "Deployment"
    }
    pods, _ = store.list(("", "pods"), namespace)
    ready: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            continue
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("uid") in deployment_of:
                ready.setdefault(deployment_of[ref["uid"]], []).append(pod)
    return ready


def _serving_container(pod: dict[str, Any], app: str) -> str:
    """The container that answers the app's requests: the one named after the app, else the first."""
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    return app if app in names else (names[0] if names else app)


def _track_of(dep: dict[str, Any]) -> str:
    labels = dep["metadata"].get("labels") or {}
    if labels.get(TRACK_LABEL):
        return labels[TRACK_LABEL]
    return "canary" if dep["metadata"]["name"].endswith("-canary") else "stable"


def _route_weights(store: Store, app: str, namespace: str) -> dict[str, float] | None:
    """Canary weight (0-100) from a router's object for the app, if one sets it."""
    for key, kind in (
        (("networking.istio.io", "virtualservices"), "istio"),
        (("gateway.networking.k8s.io", "httproutes"), "gateway"),
        (("networking.k8s.io", "ingresses"), "nginx"),
    ):
        items, _ = store.list(key, namespace)
        for obj in items:
            if (obj["metadata"].get("labels") or {}).get(APP_LABEL) != app:
                continue
            if kind == "istio":
                weights: dict[str, float] = {}
                for http in (obj.get("spec") or {}).get("http") or []:
                    for route in http.get("route") or []:
                        dest = route.get("destination") or {}
                        track = (
                            "canary"
                            if dest.get("subset") == "canary" or str(dest.get("host", "")).endswith("-canary")
                            else "stable"
                        )
                        weights[track] = weights.get(track, 0) + float(route.get("weight", 0))
                if weights:
                    return weights
            elif kind == "gateway":
                weights = {}
                for rule in (obj.get("spec") or {}).get("rules") or []:
                    for ref in rule.get("backendRefs") or []:
                        track = "canary" if str(ref.get("name", "")).endswith("-canary") else "stable"
                        weights[track] = weights.get(track, 0) + float(ref.get("weight", 1))
                if weights:
                    return weights
            else:
                annotations = obj["metadata"].get("annotations") or {}
                if annotations.get("nginx.ingress.kubernetes.io/canary") == "true":
                    canary = float(annotations.get("nginx.ingress.kubernetes.io/canary-weight", 0))
                    return {"canary": canary, "stable": 100 - canary}
    return None


def tracks(store: Store) -> list[Track]:
    """Every app/environment's tracks with the share of traffic each gets now."""
    items, _ = store.list(("apps", "deployments"))
    groups: dict[tuple[str, str, str], list[Track]] = {}
    ready_in: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for dep in items:
        labels = dep["metadata"].get("labels") or {}
        if not labels.get(APP_LABEL) or not labels.get(ENV_LABEL):
            continue
        containers = ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
        image = next(
            (c.get("image", "") for c in containers if c.get("name") == labels[APP_LABEL]),
            containers[0].get("image", "") if containers else "",
        )
        namespace = dep["metadata"]["namespace"]
        if namespace not in ready_in:
            ready_in[namespace] = ready_pods(store, namespace)
        pods = ready_in[namespace].get(dep["metadata"]["uid"], [])
        key = (labels[APP_LABEL], labels[ENV_LABEL], namespace)
        served = tuple((p["metadata"]["uid"], _serving_container(p, labels[APP_LABEL])) for p in pods)
        groups.setdefault(key, []).append(Track(*key, _track_of(dep), image, len(pods), pods=served))
    result = []
    for (app, _env, namespace), members in groups.items():
        routes = _route_weights(store, app, namespace)
        if routes is not None:
            total = sum(routes.values()) or 1
            by_track = {t.track: t for t in members}
            for name, routed in routes.items():
                share = routed / total
                if name not in by_track:  # routed to a track whose Deployment is gone
                    members.append(Track(app, _env, namespace, name, "", 0, unserved=share))
                elif by_track[name].ready:
                    by_track[name].weight = share
                else:
                    by_track[name].unserved = share
        else:
            ready = sum(t.ready for t in members)
            for t in members:
                t.weight = t.ready / ready if ready else 0.0
            if not ready:  # the Service has no endpoint at all
                stable = next((t for t in members if t.track == "stable"), members[0])
                stable.unserved = 1.0
        result.extend(members)
    return result


class TrafficSimulator:
    """Generates the requests in a thread and serves their metrics on 127.0.0.1."""

    def __init__(self, store: Store, *, port: int = 0, seed: int = 1, tick: float = TICK) -> None:
        self.store = store
        self.interval = tick  # how often the cluster is read: a shorter one sees shorter outages
        self.ticks = 0
        self.registry = CollectorRegistry()
        labels = ["app", "env", "namespace", "track"]
        self.requests = Counter(
            "http_requests", "Requests served, by status code", [*labels, "code"], registry=self.registry
        )
        self.no_endpoint = Counter(
            "http_requests_no_endpoint",
            "Requests that failed because the track they were routed to had no ready endpoint",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "Request latency", labels, buckets=BUCKETS, registry=self.registry
        )
        self._carry: dict[tuple[str, ...], float] = {}
        self._error_carry: dict[tuple[str, ...], float] = {}
        self._turns: dict[tuple[str, ...], int] = {}  # whose turn it is among a track's endpoints
        self._random = random.Random(seed)  # noqa: S311 - simulated traffic, not security
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stats: list[dict[str, Any]] = []
        self._lost: dict[str, float] = {}  # "APP/ENV" -> requests failed for want of an endpoint, since the start
        # per track, the last ticks' (requests, failed, latencies): what /stats.json measures its rates over
        self._recent: dict[tuple[str, ...], deque[tuple[float, float, list[float]]]] = {}
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.path.startswith("/metrics"):
                    body, kind = generate_latest(simulator.registry), CONTENT_TYPE_LATEST
                elif self.path.startswith("/stats.json"):
                    body, kind = json.dumps(simulator.stats()).encode(), "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the scraper gave up (its timeout under load); the next scrape reads the same counters

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True, name="traffic-http"),
            threading.Thread(target=self._run, daemon=True, name="traffic"),
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> TrafficSimulator:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def stats(self) -> dict[str, Any]:
        """Every track, and ``by_track["APP/ENV/TRACK"]`` for serving tracks: what a web metric provider reads."""
        with self._lock:
            tracks_now = list(self._stats)
            recent = {key: list(ticks) for key, ticks in self._recent.items()}
        by_track = {}
        for t in tracks_now:
            ticks = recent.get((t["app"], t["env"], t["namespace"], t["track"]), [])
            served = sum(n for n, _, _ in ticks)
            if t["weight"] > 0 and served > 0:  # a track that served nothing has no rate to report yet
                latencies = sorted(x for _, _, xs in ticks for x in xs)
                p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
                by_track[f"{t['app']}/{t['env']}/{t['track']}"] = {
                    "success_rate": round(1 - sum(f for _, f, _ in ticks) / served, 6),
                    "p99": round(p99, 4),
                    "requests": round(served, 2),
                }
        return {"tracks": tracks_now, "by_track": by_track, "no_endpoint": self.lost()}

    def lost(self) -> dict[str, int]:
        """``{"APP/ENV": n}``: requests that failed because no ready endpoint could take them, since the start
        (a part of one counts as one)."""
        with self._lock:
            return {key: math.ceil(n - 1e-9) for key, n in self._lost.items()}

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick(self.interval)

    def _access_log(self, track: Track, failed: list[bool], latencies: list[float]) -> None:
        """One line per request in the log of the pod that served it, the track's endpoints taking turns."""
        if not track.pods:
            return
        key = (track.app, track.env, track.namespace, track.track)
        turn = self._turns.get(key, 0)
        for i, (error, seconds) in enumerate(zip(failed, latencies, strict=True)):
            uid, container = track.pods[(turn + i) % len(track.pods)]
            status = 503 if error else 200
            self.store.output.write(uid, container, f'"GET / HTTP/1.1" {status} {seconds * 1000:.0f}ms')
        self._turns[key] = (turn + len(failed)) % len(track.pods)

    def tick(self, seconds: float) -> None:
        stats = []
        measured: dict[tuple[str, ...], tuple[float, float, list[float]]] = {}
        for t in tracks(self.store):
            b = behaviour(t.image)
            key = (t.app, t.env, t.namespace, t.track)
            expected = REQUESTS_PER_SECOND * seconds * t.weight + self._carry.get(key, 0.0)
            count = int(expected)
            self._carry[key] = expected - count
            lost = REQUESTS_PER_SECOND * seconds * t.unserved
            if lost:  # counted as a share, never rounded away: a tick's short outage still shows
                self.requests.labels(*key, "503").inc(lost)
                self.no_endpoint.labels(*key).inc(lost)
                with self._lock:
                    self._lost[f"{t.app}/{t.env}"] = self._lost.get(f"{t.app}/{t.env}", 0.0) + lost
            owed = count * b.error_rate + self._error_carry.get(key, 0.0)
            errors = int(owed)
            self._error_carry[key] = owed - errors
            failed = [(i + 1) * errors // count > i * errors // count for i in range(count)] if count else []
            if count - errors:
                self.requests.labels(*key, "200").inc(count - errors)
            if errors:
                self.requests.labels(*key, "503").inc(errors)
            latencies = []
            for _ in range(count):
                slow = self._random.random() < 0.01
                latencies.append(
                    self._random.uniform(b.p99, b.p99 * 1.2) if slow else self._random.uniform(0.02, b.p99 * 0.9)
                )
                self.latency.labels(*key).observe(latencies[-1])
            self._access_log(t, failed, latencies)
            measured[key] = (count + lost, errors + lost, latencies)
            stats.append(
                {
                    "app": t.app,
                    "env": t.env,
                    "namespace": t.namespace,
                    "track": t.track,
                    "image": t.image,
                    "weight": round(t.weight, 4),
                    "ready": t.ready,
                    "unserved": round(t.unserved, 4),
                    "error_rate": b.error_rate,
                    "p99": b.p99,
                }
            )
        with self._lock:
            self._stats = stats
            self.ticks += 1
            for key in set(self._recent) - set(measured):
                del self._recent[key]  # a track whose Deployment is gone starts afresh
            for key, tick in measured.items():
                window = self._recent.setdefault(key, deque(maxlen=max(1, round(STATS_WINDOW / self.interval))))
                window.append(tick)
        if self.ticks % FORGET_EVERY == 0:  # the lines of deleted pods go with them
            pods, _ = self.store.list(("", "pods"))
            self.store.output.forget({p["metadata"]["uid"] for p in pods})
