"""Leader election among `gitopsctl serve` replicas, with the official client's LeaseLock.

Only the leader runs the scheduled jobs; every replica answers Slack. The
library's ``run()`` acquires, calls ``onstarted_leading`` and renews until a
renewal fails, then calls ``onstopped_leading`` and returns; we run it again so
a replica that lost the lease competes for it again. ``stop()`` makes renewals
fail at once and releases the lease, so another replica takes over at its
next retry instead of waiting the lease out.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable

from kubernetes import client as k8s
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from ..cluster.client import Cluster
from ..config import ServeConfig

log = logging.getLogger(__name__)


class _Stopped(Exception):
    """Ends the library's acquire loop, which never looks at our stop flag itself."""


class _StoppableLease(LeaseLock):
    """A LeaseLock that neither renews, creates nor reads once the replica is stopping: a stopped
    follower must not win a lease that has just been freed (its acquire loop would go on polling)."""

    stopping = False

    def get(self, name, namespace):
        if self.stopping:
            raise _Stopped
        return super().get(name, namespace)

    def create(self, name, namespace, election_record):
        if self.stopping:
            return False
        return super().create(name, namespace, election_record)

    def update(self, name, namespace, updated_record):
        if self.stopping:
            return False
        return super().update(name, namespace, updated_record)


class LeaderElector:
    def __init__(
        self,
        cluster: Cluster,
        serve: ServeConfig,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
        identity: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.serve = serve
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.leading = threading.Event()
        self._stop = threading.Event()
        self._transition = threading.Lock()
        self._lock: _StoppableLease | None = None
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)

    def start(self) -> LeaderElector:
        self.cluster.ensure_namespace(self.serve.lease_namespace)
        self._thread.start()
        return self

    def _started(self) -> None:
        log.info("leading: %s holds the lease %s", self.identity, self.serve.lease_name)
        self.leading.set()
        self.on_started()  # returns at once: the library goes on renewing in its own loop

    def _stopped(self) -> None:
        """Stop the jobs once, however leadership ended (renewal failed, election error, or stop())."""
        with self._transition:
            if not self.leading.is_set():
                return
            self.leading.clear()
        log.info("no longer leading: %s", self.identity)
        self.on_stopped()

    def _run(self) -> None:
        api_client = self.cluster.dynamic.client
        while not self._stop.is_set():
            lock = _StoppableLease(self.serve.lease_name, self.serve.lease_namespace, self.identity)
            lock.api_instance = k8s.CoordinationV1Api(api_client)
            self._lock = lock
            config = electionconfig.Config(
                lock,
                lease_duration=int(self.serve.lease_duration),
                renew_deadline=int(self.serve.renew_deadline),
                retry_period=int(self.serve.retry_period),
                onstarted_leading=self._started,
                onstopped_leading=self._stopped,
            )
            try:
                leaderelection.LeaderElection(config).run()
            except _Stopped:
                self._stopped()
            except Exception as error:  # the API away for a moment: compete again after a pause
                log.warning("leader election failed (%s: %s); trying again", type(error).__name__, error)
                self._stopped()
            self._stop.wait(self.serve.retry_period)

    def stop(self) -> None:
        """Stop leading now and hand the lease over (its holder cleared) if this replica holds it."""
        self._stop.set()
        if self._lock is not None:
            self._lock.stopping = True
        if self.leading.is_set():
            self._stopped()
            try:
                lease = self.cluster.get(
                    "coordination.k8s.io/v1", "Lease", self.serve.lease_name, self.serve.lease_namespace
                )
                if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                    lease["spec"]["holderIdentity"] = None
                    self.cluster.replace(lease)
            except Exception:  # the lease then simply expires
                log.warning("could not release the lease; it expires in %ss", self.serve.lease_duration)
