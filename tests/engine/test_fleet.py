"""The fleet snapshot the console draws: every cell from a few LISTs, with locks, approvals and freezes."""

from __future__ import annotations

from datetime import timedelta

from gitopsctl.cluster.locks import Locks
from tests.conftest import available, wait_for

POLICY = """
[environments.prod.approval]
required = 1
users = ["carol"]
"""


def test_the_fleet_snapshot_shows_versions_sync_health_locks_approvals_and_freezes(fleet):
    engine = fleet.reload(POLICY)
    for app in engine.config.apps:
        for env in ("dev", "staging"):
            engine.sync(app, env, wait=True, timeout=30)
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": 3}})
    wait_for(lambda: available(fleet.apps, "trade-service", "trading-dev") == 3, 20, message="scaled up by hand")
    engine.deploy("pricing-api", "prod", "v2.1.0", actor="alice")
    engine.freeze("staging", duration=timedelta(hours=1), reason="release night", actor="carol")
    cluster = engine.cluster(engine.config.environments["dev"])
    with Locks(cluster, "trading-dev").hold("ledger-worker", "dev", actor="erin", operation="sync"):
        view = engine.fleet()
    assert view.envs == ["dev", "staging", "prod"] and view.apps == ["ledger-worker", "pricing-api", "trade-service"]
    trade = view.cell("trade-service", "dev")
    # changed by hand: Drifted, yet in sync with Git (nothing undelivered)
    assert (trade.version, trade.sync, trade.health, trade.drifted) == ("v1.4.1", "Synced", "Healthy", 1)
    assert view.cell("pricing-api", "staging").sync == "Synced"
    assert view.cell("pricing-api", "staging").frozen.startswith("manual: release night")
    assert view.cell("trade-service", "prod").sync == "OutOfSync" and view.cell("trade-service", "prod").version is None
    assert view.cell("trade-service", "prod").commits and view.cell("trade-service", "prod").drifted == 0
    assert view.cell("pricing-api", "prod").pending.version == "v2.1.0"
    assert view.cell("ledger-worker", "dev").locked_by == "erin (sync)"
