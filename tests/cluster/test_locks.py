"""Coordination through the cluster's Leases: one lock per app/environment, one leader among serve replicas."""

from __future__ import annotations

import pytest

from gitopsctl.cluster.locks import Locks, lock_name
from gitopsctl.errors import LockedError
from gitopsctl.serve.leader import LeaderElector
from tests.cluster.conftest import APP, ENV
from tests.conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def test_a_second_holder_of_the_apps_lease_is_refused_naming_the_first(cluster_fleet):
    fleet, ns = cluster_fleet, cluster_fleet.namespace
    cluster = fleet.engine.cluster(fleet.engine.config.environments[ENV])
    alice, bob = Locks(cluster, ns), Locks(cluster, ns)
    alice.acquire(APP, ENV, actor="alice", operation="deploy 3.9")

    lease = fleet.coordination.read_namespaced_lease(lock_name(APP, ENV), ns)
    assert lease.spec.holder_identity and lease.spec.lease_duration_seconds
    with pytest.raises(LockedError, match=rf"^{APP} in {ENV} is locked by alice \(deploy 3\.9\) since .*expires at"):
        bob.acquire(APP, ENV, actor="bob", operation="rollback")
    # the engine's own operations meet the same Lease: a deploy is refused, and Git is not touched
    before = fleet.head().hexsha
    with pytest.raises(LockedError, match=rf"{APP} in {ENV} is locked by alice"):
        fleet.engine.deploy(APP, ENV, "3.9", actor="bob")
    assert fleet.head().hexsha == before
    assert [(i.app, i.env, i.actor) for i in fleet.engine.locks()] == [(APP, ENV, "alice")]

    alice.release(APP, ENV)
    bob.acquire(APP, ENV, actor="bob", operation="rollback")
    assert [(i.app, i.env, i.actor) for i in fleet.engine.locks()] == [(APP, ENV, "bob")]
    bob.release(APP, ENV)


def test_two_electors_elect_one_leader_and_the_other_takes_over_when_it_stops(cluster_fleet):
    fleet, ns = cluster_fleet, cluster_fleet.namespace
    engine = fleet.engine
    cluster, lease_namespace = engine.coordination()
    serve = engine.config.serve
    assert lease_namespace == ns
    led: list[str] = []

    def elector(identity: str) -> LeaderElector:
        return LeaderElector(
            cluster, serve, on_started=lambda: led.append(identity), on_stopped=lambda: None, identity=identity
        )

    electors = {name: elector(name) for name in ("replica-a", "replica-b")}
    for one in electors.values():
        one.start()
    try:
        wait_for(lambda: any(e.leading.is_set() for e in electors.values()), 60, 0.2, "a leader")
        leading = [name for name, e in electors.items() if e.leading.is_set()]
        assert len(leading) == 1, leading
        first = leading[0]
        second = next(name for name in electors if name != first)

        def lease():
            return fleet.coordination.read_namespaced_lease(serve.lease_name, ns).spec

        def holder() -> str | None:
            return lease().holder_identity

        assert holder() == first
        # the leader renews its Lease, and while it does the other one stays a follower
        renewed = lease().renew_time
        wait_for(lambda: lease().renew_time != renewed, serve.renew_deadline + 30, 0.2, f"{first} to renew")
        assert electors[first].leading.is_set() and not electors[second].leading.is_set()
        assert holder() == first and led == [first]

        electors[first].stop()
        wait_for(electors[second].leading.is_set, serve.lease_duration + 30, 0.2, f"{second} to take over from {first}")
        assert not electors[first].leading.is_set()
        wait_for(lambda: holder() == second, 10, 0.2, f"the Lease to name {second}")
        assert led == [first, second]
    finally:
        for one in electors.values():
            one.stop()
