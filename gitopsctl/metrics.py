"""Prometheus metrics of one gitopsctl process, and the small HTTP server for /metrics, /healthz and /readyz.

Each Engine has its own registry, so several engines in one process (tests) never share counters.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from .errors import UsageError

log = logging.getLogger(__name__)

PHASES = ("Pending", "Progressing", "Paused", "Promoted", "Aborted", "Failed")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.deploys = Counter("gitopsctl_deploys", "Deploys by result", ["app", "env", "result"], registry=r)
        self.rollbacks = Counter("gitopsctl_rollbacks", "Rollbacks by result", ["app", "env", "result"], registry=r)
        self.rollout_phase = Gauge(
            "gitopsctl_rollout_phase",
            "1 for the phase of each app/env's latest rollout",
            ["app", "env", "phase"],
            registry=r,
        )
        self.rollout_weight = Gauge(
            "gitopsctl_rollout_weight", "Traffic on the canary, percent", ["app", "env"], registry=r
        )
        self.measurements = Counter(
            "gitopsctl_analysis_measurements",
            "Analysis measurements by phase",
            ["app", "env", "metric", "phase"],
            registry=r,
        )
        self.drift_objects = Gauge(
            "gitopsctl_drift_objects", "Objects drifted from Git at the last scan", ["env"], registry=r
        )
        self.scan_seconds = Histogram("gitopsctl_drift_scan_seconds", "Drift scan duration", ["env"], registry=r)
        self.reconcile_seconds = Histogram(
            "gitopsctl_reconcile_seconds", "One reconcile pass of every rollout", registry=r
        )
        self.leader = Gauge("gitopsctl_leader", "1 while this replica is the leader and runs the jobs", registry=r)

    def rollout(self, app: str, env: str, phase: str, weight: int) -> None:
        for each in PHASES:
            self.rollout_phase.labels(app, env, each).set(1 if each == phase else 0)
        self.rollout_weight.labels(app, env).set(weight)


class _Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow request never holds up another's answer
    request_queue_size = 128


class _Pooled(_Threading):
    """Requests go to long-lived threads: accepting a burst never waits for a new thread to start per connection
    (each start is a handoff of the GIL, and 200 of them back to back are most of a 100 ms budget). The threads
    are daemons, like ``_Threading``'s: a request still running never holds up the process's exit."""

    workers = 256  # threads made as a burst needs them, then kept; more concurrent requests wait their turn

    def server_activate(self) -> None:
        super().server_activate()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pool_lock = threading.Lock()
        self._started = self._idle = 0

    def process_request(self, request, client_address) -> None:
        with self._pool_lock:
            if self._idle == 0 and self._started < self.workers:
                self._started += 1
                threading.Thread(target=self._work, name="serve-http", daemon=True).start()
            else:
                self._idle -= 1  # this request takes an idle thread (or waits for the next free one)
        self._queue.put((request, client_address))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            self.process_request_thread(*item)
            with self._pool_lock:
                self._idle += 1

    def server_close(self) -> None:  # also when binding failed, before server_activate made the pool
        super().server_close()
        for _ in range(getattr(self, "_started", 0)):
            self._queue.put(None)


class _Quiet(WSGIRequestHandler):
    timeout = 30  # seconds: a client that stops sending mid-body does not hold a thread forever
    # The answer leaves in one send when the handler flushes, not one per header: each send gives up the GIL and
    # waits to take it back, which under a burst of 200 requests was most of an acknowledgement's time.
    wbufsize = 1 << 16

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
        log.debug("%s %s", self.address_string(), format % args)  # the request line: never a header


def listen(
    host: str,
    port: int,
    app: Callable,
    *,
    what: str,
    backlog: int = _Threading.request_queue_size,
    pooled: bool = False,
) -> WSGIServer:
    """A threading WSGI server bound on ``host:port`` now; a port that is taken is one sentence, not a traceback.

    ``backlog``: connections the kernel queues before the server accepts them; a client beyond it has its SYN
    dropped and waits for the retransmission (a whole second on Linux), however idle the threads are.
    ``pooled``: requests run on kept threads (``_Pooled``), not a new thread each.
    """
    server = type("_Listening", (_Pooled if pooled else _Threading,), {"request_queue_size": backlog})
    try:
        return make_server(host, port, app, server, _Quiet)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port} for {what}: {e.strerror or e}; choose another port") from e


class MetricsServer:
    """``/metrics`` for Prometheus; ``/healthz`` (the process answers) and ``/readyz`` (``ready()`` says so)."""

    def __init__(self, metrics: Metrics, address: str, port: int, ready: Callable[[], bool]) -> None:
        exporter = make_wsgi_app(metrics.registry)

        def app(environ, start_response):
            path = environ.get("PATH_INFO", "")
            if path in ("/healthz", "/readyz"):
                ok = path == "/healthz" or ready()
                start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"ok\n" if ok else b"not ready\n"]
            if path == "/metrics":
                return exporter(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]

        self._server = listen(address, port, app, what="/metrics (--metrics-port, [serve] metrics_port)")
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
