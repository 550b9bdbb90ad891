"""The console's fleet between refreshes: lists kept current by watches, each cell worked out again only when its
inputs change. It must show what a fresh read shows, without listing again, and read afresh when a watch fails."""

from __future__ import annotations

import threading

from gitopsctl.cluster import listers as listers_module
from gitopsctl.cluster.listers import Listers
from kubesandbox.command import admin_call
from tests.conftest import available, wait_for


def _shown(view) -> dict:
    """What the console draws of each cell."""
    return {
        key: (c.version, c.sync, c.health, c.message, c.drifted, c.locked_by, c.frozen, c.commits, c.held)
        for key, c in view.cells.items()
    }


def _audit_mark(fleet) -> int:
    status, answer = admin_call(fleet.core.api_client, "GET", f"/sandbox/audit?after={2**62}")
    assert status == 200, answer
    return int(answer["metadata"]["resourceVersion"])


def _lists_since(fleet, mark: int) -> list[str]:
    status, answer = admin_call(fleet.core.api_client, "GET", f"/sandbox/audit?after={mark}")
    assert status == 200, answer
    return [e["requestURI"] for e in answer["items"] if e["verb"] == "list"]


def test_a_live_fleet_refreshes_without_listing_and_shows_a_hand_change_as_a_fresh_read_does(fleet):
    engine = fleet.engine
    for app in engine.config.apps:
        for env in ("dev", "staging"):
            engine.sync(app, env, wait=True, timeout=30)
    live = engine.live_fleet()
    try:
        first = live.snapshot()
        assert _shown(first) == _shown(engine.fleet())
        assert first.cell("trade-service", "dev").drifted == 0

        mark = _audit_mark(fleet)
        assert _shown(live.snapshot()) == _shown(first)
        assert _lists_since(fleet, mark) == []  # the watches kept every list current: the server was not asked

        fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": 3}})
        wait_for(lambda: available(fleet.apps, "trade-service", "trading-dev") == 3, 20, message="scaled by hand")
        seen = wait_for(  # the scale and the rollout of its replicas, as the watches deliver them
            lambda: (
                (view := live.snapshot()).cell("trade-service", "dev").drifted == 1
                and view.cell("trade-service", "dev").health == "Healthy"
                and view
            ),
            20,
            message="the hand scale in a refresh of the live fleet",
        )
        assert _shown(seen) == _shown(engine.fleet())

        path = "apps/trade-service/staging/deployment.yaml"
        fleet.repo.commit({path: fleet.repo.read(path).replace("v1.4.1", "v1.4.2")}, "trade-service v1.4.2 in staging")
        moved = wait_for(
            lambda: (view := live.snapshot()).cell("trade-service", "staging").sync == "OutOfSync" and view,
            20,
            message="the new commit in a refresh of the live fleet",
        )
        assert _shown(moved) == _shown(engine.fleet())
    finally:
        live.stop()


def test_a_list_whose_watch_fails_is_read_afresh_and_followed_again(fleet):
    cluster = fleet.engine.cluster(fleet.engine.config.environments["dev"])
    cluster.ensure_namespace("trading-dev")
    rule = fleet.sandbox.faults.add(verbs=["watch"], resource="configmaps", status=500)
    listers = Listers(cluster)
    try:
        assert listers.list("v1", "ConfigMap", "trading-dev") == []
        listers.follow()
        wait_for(lambda: rule.fired >= 1 and listers.following() == 0, 20, message="the refused watch")
        fleet.sandbox.faults.remove(rule.id)
        fleet.core.create_namespaced_config_map("trading-dev", {"metadata": {"name": "made-meanwhile"}})

        mark = _audit_mark(fleet)
        assert [c["metadata"]["name"] for c in listers.list("v1", "ConfigMap", "trading-dev")] == ["made-meanwhile"]
        assert len(_lists_since(fleet, mark)) == 1  # listed again, not answered from the store nobody followed
        listers.follow()
        wait_for(lambda: listers.following() == 1, 20, message="the list followed again")

        fleet.core.create_namespaced_config_map("trading-dev", {"metadata": {"name": "made-after"}})
        wait_for(lambda: len(listers.list("v1", "ConfigMap", "trading-dev")) == 2, 20, message="the watch's new object")
        assert len(_lists_since(fleet, mark)) == 1
    finally:
        listers.stop()


def test_a_watch_that_hears_nothing_past_its_read_timeout_ends_and_its_list_is_read_afresh(fleet, monkeypatch):
    monkeypatch.setattr(listers_module, "READ_TIMEOUT", 1.0)  # 75 s in use: a dead connection is said in that time
    cluster = fleet.engine.cluster(fleet.engine.config.environments["dev"])
    cluster.ensure_namespace("trading-dev")
    rule = fleet.sandbox.faults.add(verbs=["watch"], resource="configmaps", latency=10)  # a connection gone silent
    listers = Listers(cluster)
    try:
        listers.list("v1", "ConfigMap", "trading-dev")
        listers.follow()
        assert listers.following() == 1
        wait_for(lambda: rule.fired >= 1 and listers.following() == 0, 20, message="the silent watch given up")
        mark = _audit_mark(fleet)
        listers.list("v1", "ConfigMap", "trading-dev")
        assert len(_lists_since(fleet, mark)) == 1
    finally:
        fleet.sandbox.faults.remove(rule.id)
        listers.stop()


def test_stopping_a_live_fleet_during_a_slow_read_returns_at_once_and_leaves_no_watch(fleet):
    live = fleet.engine.live_fleet()
    rule = fleet.sandbox.faults.add(verbs=["list"], resource="configmaps", latency=3, count=1)  # a slow cluster
    reading = threading.Thread(target=live.snapshot)
    reading.start()
    try:
        wait_for(lambda: rule.fired == 1, 20, message="the read waiting on the slow LIST")
        live.stop()
        assert reading.is_alive()  # stop() did not wait for the read
    finally:
        reading.join(60)
    assert all(lister.following() == 0 for lister in live._listers.values())
