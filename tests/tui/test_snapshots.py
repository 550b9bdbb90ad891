"""Snapshots of the console's screens with fixed data (no cluster): the fleet, a rollout's detail, a diff."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from textual.widgets import Sparkline

from gitopsctl import config as config_module
from gitopsctl.analysis.measurement import Measurement
from gitopsctl.cluster.records import HistoryEntry
from gitopsctl.engine import Commit, DiffResult, Pending, Quarantined
from gitopsctl.fleet import Cell, FleetView
from gitopsctl.release.requests import Request
from gitopsctl.rollout.record import Rollout
from gitopsctl.source.manifests import ObjectRef
from gitopsctl.sync.diff import FieldChange, ResourceDiff
from tui.app import ConsoleApp
from tui.detail import DetailScreen, DiffScreen

CONFIG = """
[git]
url = "https://git.example.com/gitops.git"

[environments.dev]
context = "dev"
namespace = "trading-dev"

[environments.staging]
context = "staging"
namespace = "trading-staging"

[environments.prod]
context = "prod"
namespace = "trading-prod"
strategy = "canary"

[analysis.templates.success-rate]
query = "up"
success_condition = "result >= 0.99"

[apps.trade-service]
path = "apps/trade-service/{env}"

[apps.trade-service.canary]
steps = [{ set_weight = 10 }, { analysis = "success-rate" }, { set_weight = 30 }, { pause = {} }, { set_weight = 100 }]

[apps.pricing-api]
path = "apps/pricing-api/{env}"

[apps.pricing-api.canary]
steps = [{ set_weight = 50 }, { set_weight = 100 }]

[apps.ledger-worker]
path = "apps/ledger-worker/{env}"

[apps.ledger-worker.canary]
steps = [{ set_weight = 50 }, { set_weight = 100 }]
"""
AT = datetime(2026, 11, 22, 3, 4, 5, tzinfo=UTC)
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
CI = Commit(
    "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "Bump ledger-worker to v0.9.3",
    "CI Bot <ci@example.com>",
    "2026-11-22T03:02:00Z",
    False,
)
QUARANTINED = Quarantined(
    "trade-service", "v1.4.0", "prod", "success-rate 0.82 < 0.95 at 10% traffic", "gitopsctl", "2026-11-20T09:00:00Z"
)


def _rollout() -> Rollout:
    values = [0.998, 0.997, 0.999, 0.996]
    return Rollout(
        "trade-service",
        "prod",
        "Progressing",
        "v1.4.1",
        "v1.4.2",
        SHA,
        "alice",
        "2026-11-22T03:00:00.000000Z",
        step=2,
        weight=30,
        measurements=[
            Measurement("success-rate", "Successful", v, f"2026-11-22T03:0{i}:00.000000Z") for i, v in enumerate(values)
        ],
        events=[
            "2026-11-22T03:00:00.000000Z rollout of trade-service v1.4.2 to prod started by alice",
            "2026-11-22T03:00:01.000000Z canary weight set to 10%",
            "2026-11-22T03:03:00.000000Z step 2 done (analysis success-rate passed)",
            "2026-11-22T03:03:01.000000Z canary weight set to 30%",
        ],
    )


def _engine(user: str = "oncall"):
    """A faked engine whose cluster says we are ``user``."""
    cfg = config_module.parse(tomllib.loads(CONFIG))
    rollout = _rollout()
    request = Request("r1", "pricing-api", "prod", "v2.1.0", "v2.0.0", "bob", "2026-11-22T03:01:00Z", 1)

    def cell(app, env, version, sync="Synced", health="Healthy", **extra):
        return Cell(app, env, version, sync, health, **extra)

    cells = {
        ("ledger-worker", "dev"): cell("ledger-worker", "dev", "v0.9.3"),
        ("ledger-worker", "staging"): cell("ledger-worker", "staging", "v0.9.3", locked_by="erin (sync)"),
        ("ledger-worker", "prod"): cell(
            "ledger-worker", "prod", "v0.9.2", "OutOfSync", "Degraded", drifted=2, commits=(CI,), held="prod is frozen"
        ),
        ("pricing-api", "dev"): cell("pricing-api", "dev", "v2.1.0"),
        ("pricing-api", "staging"): cell("pricing-api", "staging", "v2.1.0", frozen="manual: release night"),
        ("pricing-api", "prod"): cell("pricing-api", "prod", "v2.0.0", pending=request),
        ("trade-service", "dev"): cell("trade-service", "dev", "v1.4.2"),
        ("trade-service", "staging"): cell("trade-service", "staging", "v1.4.2"),
        ("trade-service", "prod"): cell(
            "trade-service", "prod", "v1.4.1", "Synced", "Progressing", rollout=rollout, steps=5
        ),
    }
    view = FleetView(sorted(cfg.apps), list(cfg.promotion_chain), cells, SHA, AT, [])
    history = [HistoryEntry(SHA, "v1.4.1", "alice", "2026-11-21T17:00:00Z", "Succeeded", 3, 0, 0, "Healthy")]
    change = FieldChange("spec.replicas", "/spec/replicas", 3, 5)
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "trade-service"},
        "spec": {"replicas": 5},
    }
    desired = {**live, "spec": {"replicas": 3}}
    resource = ResourceDiff(
        ObjectRef("apps/v1", "Deployment", "trading-prod", "trade-service"),
        "changed",
        [change],
        "kubectl-scale",
        desired,
        live,
    )
    return SimpleNamespace(
        config=cfg,
        whoami=lambda env: user,
        fleet=lambda: view,
        live_fleet=lambda on_change=None: SimpleNamespace(snapshot=lambda: view, stop=lambda: None),
        rollouts=SimpleNamespace(
            get=lambda app, env: rollout,
            tracks=lambda app, env: {
                "success-rate": ([0.99, 0.995, 0.998, 0.97, 0.999], [0.999, 0.998, 0.999, 0.999, 0.998])
            },
        ),
        history=lambda app, env: history,
        diff=lambda app, env: DiffResult(app, env, SHA, [resource]),
        pending_change=lambda app, env: Pending(app, env, CI.sha, SHA, True, (CI,)),
        quarantined=lambda app=None: [QUARANTINED],
    )


@pytest.fixture
def console():
    return ConsoleApp(_engine(), refresh_seconds=3600)


async def _settle(pilot) -> None:
    await pilot.pause(0.3)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)


def test_fleet_snapshot(snap_compare, console):
    assert snap_compare(console, terminal_size=(120, 36), run_before=_settle)


def test_detail_snapshot(snap_compare, console):
    async def open_detail(pilot):
        await _settle(pilot)
        pilot.app.push_screen(DetailScreen(pilot.app.engine, "trade-service", "prod"))
        await _settle(pilot)

    assert snap_compare(console, terminal_size=(120, 40), run_before=open_detail)


def test_diff_snapshot(snap_compare, console):
    async def open_diff(pilot):
        await _settle(pilot)
        pilot.app.push_screen(DiffScreen(pilot.app.engine, "trade-service", "prod"))
        await _settle(pilot)

    assert snap_compare(console, terminal_size=(100, 30), run_before=open_diff)


def test_demo_console_snapshot(snap_compare):
    """`gitopsctl demo`: the fleet, the guide's keys and notes, and the log of what happened."""
    from demo.console import DemoConsole

    world = SimpleNamespace(engine=_engine("newcomer"), say=lambda text: None)
    notes = ["analysis: Prometheus at http://127.0.0.1:9090", "Slack: off · files: /tmp/gitopsctl-demo-example"]

    async def progress(pilot):
        await _settle(pilot)
        for line in (
            "trade-service v1.4.2: dev -> staging -> prod",
            "  Deployed: trade-service v1.4.2 in dev (commit 5d2f4db4a3f5)",
            "    [trade-service prod] canary weight set to 30%",
        ):
            pilot.app.say(line)
        await _settle(pilot)

    app = DemoConsole(world, notes, refresh_seconds=3600)
    assert snap_compare(app, terminal_size=(80, 24), run_before=progress)


@pytest.mark.parametrize("where", ["measurements", "live plots"])
def test_a_nan_sample_never_ends_the_detail_screen(where):
    """The README's tour, press 2 then Enter: a -bad canary's NaN must show as no point, not end the console."""
    import asyncio

    nan = float("nan")
    engine = _engine()
    rollout = _rollout()
    rollout.measurements.append(Measurement("success-rate", "Error", nan, "2026-11-22T03:05:00.000000Z"))
    engine.rollouts.get = lambda app, env: rollout
    engine.rollouts.tracks = (
        (lambda app, env: {"success-rate": ([nan, 0.8, nan], [nan])})
        if where == "live plots"
        else (lambda app, env: {})
    )

    async def run():
        app = ConsoleApp(engine, refresh_seconds=3600)
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(pilot)
            app.push_screen(DetailScreen(app.engine, "trade-service", "prod"))
            await _settle(pilot)
            assert app.is_running and isinstance(app.screen, DetailScreen)
            plotted = [list(plot.data or []) for plot in app.screen.query(Sparkline)]
            assert plotted and all(v == v for values in plotted for v in values)  # plotted, and no NaN among them

    asyncio.run(run())
