"""Commands that watch and steer canary rollouts: rollout status|promote|abort|pause|resume|retry, and controller."""

from __future__ import annotations

import argparse
import logging
import signal
import time

from .. import output
from ..errors import UsageError
from .common import emit_json, engine_for, timeout
from .writes import print_deploy


def _rollout_dict(rollout, steps: int) -> dict:
    return {
        "app": rollout.app,
        "env": rollout.env,
        "phase": rollout.phase,
        "step": rollout.step,
        "steps": steps,
        "weight": rollout.weight,
        "stable_version": rollout.stable_version,
        "canary_version": rollout.canary_version,
        "measurements": [
            {"metric": m.metric, "value": m.value, "phase": m.phase, "at": m.at} for m in rollout.measurements
        ],
        "message": rollout.message,
    }


def _print_rollout(rollout, steps: int, args: argparse.Namespace) -> None:
    if args.output == "json":
        emit_json(_rollout_dict(rollout, steps))
        return
    print(
        f"{rollout.app} in {rollout.env}: {output.paint(rollout.phase)} {rollout.stable_version} -> {rollout.canary_version}, "
        f"step {min(rollout.step + 1, steps)}/{steps}, {rollout.weight}% on the canary"
        + (f" ({rollout.message})" if rollout.message else "")
    )
    for event in rollout.events[-8:]:
        print(f"  {event}")


def _rollout(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    app, _ = engine.resolve(args.app, args.env)
    steps = len(app.canary.steps) if app.canary else 0
    controls = engine.rollouts
    if args.action == "status":
        while True:
            rollout = controls.get(args.app, args.env)
            if rollout is None:
                raise UsageError(f"{args.app} in {args.env} has had no rollout")
            _print_rollout(rollout, steps, args)
            if not args.watch or not rollout.active:
                return 0
            time.sleep(2)
    actor = engine.whoami(args.env)
    if args.action == "promote":
        rollout = controls.promote(args.app, args.env, full=args.full, actor=actor)
    elif args.action == "abort":
        rollout = controls.abort(args.app, args.env, reason=args.reason or "", actor=actor)
    elif args.action == "retry":
        return print_deploy(
            controls.retry(args.app, args.env, actor=actor, wait=args.wait, timeout=timeout(args)), args
        )
    elif args.action == "pause":
        rollout = controls.pause(args.app, args.env, actor=actor)
    else:
        rollout = controls.resume(args.app, args.env, actor=actor)
    _print_rollout(rollout, steps, args)
    return 0


def _controller(args: argparse.Namespace) -> int:
    """Reconcile every active rollout in a loop, in the foreground, until interrupted."""
    from ..rollout.loop import ReconcileLoop

    loop = ReconcileLoop(
        engine_for(args),
        args.interval,
        on_finished=lambda r: print(f"{r.app} in {r.env}: {r.phase} ({r.message})", flush=True),
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: loop.stop())
    print(f"controller running: reconciling rollouts every {args.interval:g}s", flush=True)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    loop.run()
    return 0


def register(commands, common: argparse.ArgumentParser) -> None:
    rollout = commands.add_parser("rollout", parents=[common], help="watch and steer a canary rollout")
    rollout_actions = rollout.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (
        ("status", "the rollout's phase, step, weight and measurements"),
        ("promote", "go past the current pause (--full: skip the remaining steps)"),
        ("abort", "traffic back to stable, canary removed, the deploy reverted in Git"),
        ("pause", "stop advancing (analysis and health checks still run)"),
        ("resume", "advance again"),
        ("retry", "deploy an aborted rollout's version again (a new commit and rollout)"),
    ):
        sub = rollout_actions.add_parser(action, parents=[common], help=text)
        sub.add_argument("app")
        sub.add_argument("env")
        sub.add_argument("-o", "--output", choices=("text", "json"), default="text")
        if action == "status":
            sub.add_argument("--watch", action="store_true", help="print again every 2 s until the rollout ends")
        if action == "promote":
            sub.add_argument("--full", action="store_true", help="skip the remaining steps")
        if action == "abort":
            sub.add_argument("--reason", help="why (recorded in the revert commit)")
        if action == "retry":
            sub.add_argument("--wait", action="store_true", help="drive the new rollout until it ends")
            sub.add_argument("--timeout", default="5m", help="how long --wait waits (default 5m)")
        sub.set_defaults(func=_rollout)

    controller = commands.add_parser(
        "controller", parents=[common], help="run the rollout reconcile loop in the foreground"
    )
    controller.add_argument("--interval", type=float, default=1.0, help="seconds between passes (default 1)")
    controller.set_defaults(func=_controller)
