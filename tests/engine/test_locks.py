"""One lock per app/environment on a Lease: refusals name the holder, locks expire, races have one winner."""

from __future__ import annotations

import threading
import time

import pytest

from gitopsctl.cluster.client import Cluster
from gitopsctl.cluster.locks import Locks
from gitopsctl.errors import LockedError


@pytest.fixture
def cluster(sandbox) -> Cluster:
    return Cluster("sandbox", sandbox.kubeconfig)


def test_a_second_operation_is_refused_naming_who_for_what_since_when(cluster):
    alice, bob = Locks(cluster, "trading"), Locks(cluster, "trading")
    alice.acquire("trade-service", "prod", actor="alice", operation="deploy v1.4.2")
    with pytest.raises(LockedError) as err:
        bob.acquire("trade-service", "prod", actor="bob", operation="rollback")
    message = str(err.value)
    assert message.startswith("trade-service in prod is locked by alice (deploy v1.4.2) since ")
    assert "expires at" in message
    bob.acquire("trade-service", "staging", actor="bob", operation="deploy")  # other environments are free
    alice.release("trade-service", "prod")
    bob.acquire("trade-service", "prod", actor="bob", operation="rollback")


def test_a_lock_whose_holder_died_expires(cluster):
    dead = Locks(cluster, "trading", ttl=1)
    dead.acquire("trade-service", "prod", actor="alice", operation="deploy")
    with pytest.raises(LockedError):
        Locks(cluster, "trading").acquire("trade-service", "prod", actor="bob", operation="deploy")
    time.sleep(1.3)
    Locks(cluster, "trading").acquire("trade-service", "prod", actor="bob", operation="deploy")


def test_racing_operations_have_exactly_one_winner(cluster):
    Locks(cluster, "trading").acquire("warmup", "prod", actor="x", operation="x")  # the namespace exists
    results: list[str] = []
    barrier = threading.Barrier(8)

    def contender(i: int) -> None:
        barrier.wait()
        try:
            Locks(cluster, "trading").acquire("trade-service", "prod", actor=f"user{i}", operation="deploy")
            results.append("won")
        except LockedError:
            results.append("refused")

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == ["refused"] * 7 + ["won"]


def test_a_held_lock_is_renewed_and_released_at_the_end(cluster):
    holder = Locks(cluster, "trading", ttl=1)
    with holder.hold("trade-service", "prod", actor="alice", operation="canary"):
        for _ in range(5):
            time.sleep(0.5)
            with pytest.raises(LockedError):
                Locks(cluster, "trading").acquire("trade-service", "prod", actor="bob", operation="deploy")
        (info,) = holder.held()
        assert (info.app, info.env, info.actor, info.operation) == ("trade-service", "prod", "alice", "canary")
    assert holder.held() == []
    Locks(cluster, "trading").acquire("trade-service", "prod", actor="bob", operation="deploy")
