"""The ``gitopsctl`` command line: parses arguments, calls the engine, prints results.

Exit codes: 0 success (in sync, clean); 1 differences, drift or a failed sync;
2 invalid input, configuration or an error (one sentence on stderr, nothing changed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from . import config as config_module
from . import output
from .durations import parse_duration
from .errors import ConfigError, GitOpsError, UsageError
from .identity import person_of


def _config_check(args: argparse.Namespace) -> int:
    try:
        cfg = config_module.load(args.config)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    print(
        f"{cfg.source}: valid ({len(cfg.environments)} environments, {len(cfg.apps)} apps, "
        f"{len(cfg.analysis)} analysis templates; promotion {' -> '.join(cfg.promotion_chain)})"
    )
    return 0


def _sandbox_up(args: argparse.Namespace) -> int:
    from .sandbox import Sandbox

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    users = {}
    for spec in args.user:
        name, _, groups = spec.partition(":")
        users[name] = [g for g in groups.split(",") if g]
    try:
        sandbox = Sandbox.start(Path(args.state_dir), port=args.port, users=users)
    except OSError as e:
        print(f"cannot start the sandbox: {e.strerror or e}; choose another --port or --state-dir.", file=sys.stderr)
        return 2
    with sandbox:
        print(f"sandbox ready: kubeconfig={sandbox.kubeconfig} server={sandbox.server}", flush=True)
        for name in users:
            print(f"user {name}: kubeconfig={sandbox.kubeconfig_for(name)}", flush=True)
        while not stop.wait(0.5):
            pass
    with contextlib.suppress(BrokenPipeError):  # whoever started us may have stopped listening
        print("sandbox stopped", flush=True)
    return 0


def _slack_channel(value: str) -> str:
    from .config import slack_channel_problem

    if problem := slack_channel_problem(value):
        raise argparse.ArgumentTypeError(problem)
    return value


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port: give a number from 1 to 65535")
    return int(value)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _demo(args: argparse.Namespace) -> int:
    from .sandbox import release_demo

    # a TERM or HUP unwinds like ^C, so the cluster, Prometheus and the temporary directory are cleaned up
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    if args.headless:
        return release_demo.headless(analysis_provider=args.analysis)
    return release_demo.interactive(
        analysis_provider=args.analysis, slack_channel=args.slack_channel, slack_port=args.slack_port
    )


def _engine(args: argparse.Namespace):
    from .engine import Engine

    return Engine(config_module.load(args.config))


def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def _status(args: argparse.Namespace) -> int:
    rows = _engine(args).status(args.app, args.env)
    if args.output == "json":
        _emit_json([row.as_dict() for row in rows])
        return 0
    print(
        output.table(
            ["app", "env", "version", "revision", "sync", "health", "message"],
            [[r.app, r.env, r.version, output.short(r.revision), r.sync, r.health, r.message] for r in rows],
        )
    )
    return 0


def _print_resource(resource, stream=sys.stdout) -> None:
    from . import diff as diffing

    header, *body = diffing.describe(resource).splitlines()
    print(header, file=stream)
    for line in body:
        change = line[4:]
        colour = "32" if change.startswith("+") else "31" if change.startswith("-") else None
        if colour and output.use_colour(stream) and not change.startswith(("+++", "---")):
            line = f"    \x1b[{colour}m{change}\x1b[0m"
        print(line, file=stream)


def _diff(args: argparse.Namespace) -> int:
    result = _engine(args).diff(args.app, args.env, args.revision)
    if args.output == "json":
        _emit_json(result.as_dict())
    elif result.in_sync:
        print(f"{args.app} in {args.env} is in sync with {output.short(result.revision)}")
    else:
        print(
            f"{args.app} in {args.env} differs from Git at {output.short(result.revision)}: {len(result.resources)} objects"
        )
        for resource in result.resources:
            _print_resource(resource)
    return 0 if result.in_sync else 1


def _sync(args: argparse.Namespace) -> int:
    try:
        timeout = parse_duration(args.timeout)
    except ValueError as e:
        raise UsageError(f"--timeout: {e}") from e
    progress = (lambda message: print(message, file=sys.stderr, flush=True)) if args.output == "text" else None
    result = _engine(args).sync(
        args.app,
        args.env,
        revision=args.revision,
        dry_run=args.dry_run,
        prune=not args.no_prune,
        allow_empty=args.allow_empty,
        wait=args.wait,
        timeout=timeout,
        progress=progress,
    )
    if args.output == "json":
        _emit_json(result.as_dict())
    else:
        verb = "would apply" if result.dry_run else "applied"
        pruned = "would prune" if result.dry_run else "pruned"
        print(
            f"{output.paint(result.result)}: {args.app} in {args.env} at {output.short(result.revision)} "
            f"(version {result.version or '-'}): {verb} {len(result.applied)}, unchanged {result.unchanged}, "
            f"{pruned} {len(result.pruned)}; health {output.paint(result.health)}"
            + (f" ({result.message})" if result.message else "")
        )
    return 0 if result.result == "Succeeded" else 1


def _drift(args: argparse.Namespace) -> int:
    report = _engine(args).drift(args.env, tuple(args.apps))
    if args.output == "json":
        _emit_json(report.as_dict())
        return 1 if report.drifted else 0
    for item in report.drifted:
        print(f"{item.app} in {item.env}: {len(item.resources)} drifted objects")
        for resource in item.resources:
            ref = resource.ref
            where = f"{ref.namespace}/" if ref.namespace else ""
            who = f" (changed by {resource.changed_by})" if resource.changed_by else ""
            print(f"  {ref.kind} {where}{ref.name}: {output.paint(resource.state)}{who}")
            for change in resource.fields:
                print(f"    {change.path}: {_show(change.desired)} (git) != {_show(change.live)} (live)")
    clean = ", ".join(f"{app}/{env}" for app, env in report.clean)
    print(f"clean: {clean}" if clean else "clean: none")
    return 1 if report.drifted else 0


def _show(value: Any) -> str:
    from .diff import MISSING

    if value is MISSING or value is None:
        return "<absent>"
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def _whoami(args: argparse.Namespace) -> int:
    """Who gitopsctl acts as in each environment: what its cluster says of your credentials, and the person."""
    engine = _engine(args)
    envs = [args.env] if args.env else list(engine.config.promotion_chain)
    rows = []
    for env in envs:
        actor = engine.whoami(env)
        rows.append({"env": env, "user": actor, "person": person_of(engine.config, actor)})
    if args.output == "json":
        _emit_json(rows)
    else:
        for row in rows:
            print("\t".join([row["env"], row["user"], *([f"(person {row['person']})"] if row["person"] else [])]))
    return 0


def _history(args: argparse.Namespace) -> int:
    entries = _engine(args).history(args.app, args.env)
    if args.output == "json":
        from dataclasses import asdict

        _emit_json([asdict(e) for e in entries])
        return 0
    print(
        output.table(
            ["time", "revision", "version", "actor", "result", "applied", "unchanged", "pruned", "health"],
            [
                [
                    e.time,
                    output.short(e.revision),
                    e.version,
                    e.actor,
                    e.result,
                    e.applied,
                    e.unchanged,
                    e.pruned,
                    e.health,
                ]
                for e in entries
            ],
        )
    )
    return 0


def _timeout(args: argparse.Namespace) -> float:
    try:
        return parse_duration(args.timeout)
    except ValueError as e:
        raise UsageError(f"--timeout: {e}") from e


def _print_deploy(result, args: argparse.Namespace) -> int:
    if args.output == "json":
        _emit_json(result.as_dict())
    elif result.status == "PendingApproval":
        print(f"{result.app} {result.version} to {result.env} is waiting for approval: {result.message}")
    elif result.rollout is not None:
        r = result.rollout
        print(
            f"{output.paint(r.phase)}: canary rollout of {result.app} {r.stable_version} -> {r.canary_version} in {result.env}, "
            f"{r.weight}% on the canary"
            + (f" ({r.message})" if r.message else "")
            + (
                ""
                if r.phase in ("Promoted", "Aborted", "Failed")
                else f"; follow it with: gitopsctl rollout status {result.app} {result.env} --watch"
            )
        )
    else:
        was = f" (was {result.previous})" if result.previous and result.previous != result.version else ""
        commit = f" in commit {output.short(result.commit)}" if result.commit else " (Git already had it)"
        health = output.paint(result.sync.health) if result.sync else "-"
        print(
            f"{output.paint(result.status if result.status != 'Deployed' else 'Succeeded')}: {result.app} "
            f"{result.version} in {result.env}{was}{commit}; health {health}"
            + (f" ({result.message})" if result.message else "")
        )
    return 1 if result.status in ("Failed", "Aborted") else 0


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
        _emit_json(_rollout_dict(rollout, steps))
        return
    print(
        f"{rollout.app} in {rollout.env}: {output.paint(rollout.phase)} {rollout.stable_version} -> {rollout.canary_version}, "
        f"step {min(rollout.step + 1, steps)}/{steps}, {rollout.weight}% on the canary"
        + (f" ({rollout.message})" if rollout.message else "")
    )
    for event in rollout.events[-8:]:
        print(f"  {event}")


def _rollout(args: argparse.Namespace) -> int:
    import time

    engine = _engine(args)
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
        return _print_deploy(
            controls.retry(args.app, args.env, actor=actor, wait=args.wait, timeout=_timeout(args)), args
        )
    elif args.action == "pause":
        rollout = controls.pause(args.app, args.env, actor=actor)
    else:
        rollout = controls.resume(args.app, args.env, actor=actor)
    _print_rollout(rollout, steps, args)
    return 0


def _controller(args: argparse.Namespace) -> int:
    """Reconcile every active rollout in a loop, in the foreground, until interrupted."""
    from .rollout.loop import ReconcileLoop

    loop = ReconcileLoop(
        _engine(args),
        args.interval,
        on_finished=lambda r: print(f"{r.app} in {r.env}: {r.phase} ({r.message})", flush=True),
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: loop.stop())
    print(f"controller running: reconciling rollouts every {args.interval:g}s", flush=True)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    loop.run()
    return 0


def _confirm(what: str, args: argparse.Namespace) -> None:
    """Ask on a terminal, unless --yes; scripts (no terminal) are not asked."""
    if args.yes or not sys.stdin.isatty():
        return
    answer = input(f"{what}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was changed")


def _deploy(args: argparse.Namespace) -> int:
    engine = _engine(args)
    _confirm(f"Deploy {args.app} {args.version or '(the version Healthy upstream)'} to {args.env}", args)
    result = engine.deploy(
        args.app,
        args.env,
        args.version,
        break_glass=args.break_glass,
        wait=args.wait,
        reason=args.reason or "",
        timeout=_timeout(args),
    )
    return _print_deploy(result, args)


def _decided_request(engine, args: argparse.Namespace, verb: str):
    """The request a decision binds to: --request, else the one pending now, named before anything is decided."""
    request = engine.pending(args.app, args.env)
    if args.request is None:
        if request is None:
            raise UsageError(f"there is no pending request for {args.app} in {args.env}")
        print(f"{verb} request {request.id}: the {request.describe()}", file=sys.stderr, flush=True)
        _confirm(
            f"{verb.capitalize()} {request.app} {request.version} to {request.env}, asked by {request.requester}", args
        )
        return request.id
    return args.request


def _approve(args: argparse.Namespace) -> int:
    engine = _engine(args)
    request = _decided_request(engine, args, "approving")
    result = engine.approve(args.app, args.env, request=request, version=args.version, timeout=_timeout(args))
    return _print_deploy(result, args)


def _reject(args: argparse.Namespace) -> int:
    engine = _engine(args)
    request = engine.reject(
        args.app, args.env, request=_decided_request(engine, args, "rejecting"), version=args.version
    )
    print(f"{'withdrew' if request.state == 'Withdrawn' else 'rejected'} the {request.describe()}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    engine = _engine(args)
    _confirm(f"Roll back {args.app} in {args.env}" + (f" to {args.to}" if args.to else ""), args)
    return _print_deploy(engine.rollback(args.app, args.env, to=args.to, timeout=_timeout(args)), args)


def _freeze(args: argparse.Namespace) -> int:
    from datetime import timedelta

    try:
        duration = timedelta(seconds=parse_duration(args.duration))
    except ValueError as e:
        raise UsageError(f"--for: {e}") from e
    freeze = _engine(args).freeze(args.env, duration=duration, reason=args.reason or "")
    print(f"{args.env} is frozen until {freeze.until:%Y-%m-%d %H:%M} UTC: {freeze.reason}")
    return 0


def _unfreeze(args: argparse.Namespace) -> int:
    removed = _engine(args).unfreeze(args.env)
    print(f"{args.env} is unfrozen" if removed else f"{args.env} had no manual freeze (configured windows still apply)")
    return 0


def _locks(args: argparse.Namespace) -> int:
    held = _engine(args).locks()
    if args.output == "json":
        _emit_json(
            [
                {
                    "app": i.app,
                    "env": i.env,
                    "actor": i.actor,
                    "operation": i.operation,
                    "holder": i.holder,
                    "since": i.since.isoformat(),
                    "expires": i.expires.isoformat(),
                }
                for i in held
            ]
        )
        return 0
    if not held:
        print("no locks are held")
        return 0
    print(
        output.table(
            ["app", "env", "actor", "operation", "since", "expires"],
            [[i.app, i.env, i.actor, i.operation, f"{i.since:%H:%M:%S}", f"{i.expires:%H:%M:%S}"] for i in held],
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gitopsctl", description="GitOps delivery for Kubernetes.")
    parser.add_argument(
        "--config", metavar="PATH", help="configuration file (default: $GITOPSCTL_CONFIG, then ./gitopsctl.toml)"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    status = commands.add_parser("status", parents=[common], help="version, sync state and health of every app")
    status.add_argument("app", nargs="?", help="only this app")
    status.add_argument("--env", help="only this environment")
    status.add_argument("-o", "--output", choices=("table", "json"), default="table")
    status.set_defaults(func=_status)

    diff = commands.add_parser(
        "diff", parents=[common], help="Git against live; exit 0 in sync, 1 differences, 2 error"
    )
    diff.add_argument("app")
    diff.add_argument("env")
    diff.add_argument("--revision", metavar="REV", help="a branch, tag or commit (default: the configured branch)")
    diff.add_argument("-o", "--output", choices=("text", "json"), default="text")
    diff.set_defaults(func=_diff)

    sync = commands.add_parser("sync", parents=[common], help="make an app in an environment match Git")
    sync.add_argument("app")
    sync.add_argument("env")
    sync.add_argument("--revision", metavar="REV", help="a branch, tag or commit (default: the configured branch)")
    sync.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    sync.add_argument("--no-prune", action="store_true", help="keep objects that are no longer in Git")
    sync.add_argument(
        "--allow-empty", action="store_true", help="allow pruning everything when the app's Git path is gone"
    )
    sync.add_argument("--wait", action="store_true", help="wait until the app is Healthy")
    sync.add_argument("--timeout", default="5m", help="how long --wait waits (default 5m)")
    sync.add_argument("-o", "--output", choices=("text", "json"), default="text")
    sync.set_defaults(func=_sync)

    drift = commands.add_parser(
        "drift", parents=[common], help="live state that differs from Git; exit 0 clean, 1 drift, 2 error"
    )
    drift.add_argument("apps", nargs="*", metavar="APP")
    drift.add_argument("--env", help="only this environment")
    drift.add_argument("-o", "--output", choices=("text", "json"), default="text")
    drift.set_defaults(func=_drift)

    whoami = commands.add_parser(
        "whoami", parents=[common], help="who you act as in each environment (the cluster says, from your credentials)"
    )
    whoami.add_argument("env", nargs="?")
    whoami.add_argument("-o", "--output", choices=("text", "json"), default="text")
    whoami.set_defaults(func=_whoami)

    history = commands.add_parser("history", parents=[common], help="the last syncs of an app in an environment")
    history.add_argument("app")
    history.add_argument("env")
    history.add_argument("-o", "--output", choices=("table", "json"), default="table")
    history.set_defaults(func=_history)

    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument("--timeout", default="5m", help="how long to wait for Healthy (default 5m)")
    acting.add_argument("-o", "--output", choices=("text", "json"), default="text")

    deploy = commands.add_parser(
        "deploy", parents=[common, acting], help="deploy a version under the environment's policy"
    )
    deploy.add_argument("app")
    deploy.add_argument("env")
    deploy.add_argument("version", nargs="?", help="an image tag (default: the version running Healthy upstream)")
    deploy.add_argument("--wait", action="store_true", help="wait until the deploy ends (direct deploys always wait)")
    deploy.add_argument("--yes", action="store_true", help="do not ask for confirmation on a terminal")
    deploy.add_argument(
        "--break-glass", action="store_true", help="ask for an override of a freeze (a second person approves)"
    )
    deploy.add_argument("--reason", help="why (required with --break-glass)")
    deploy.set_defaults(func=_deploy)

    deciding = argparse.ArgumentParser(add_help=False)
    deciding.add_argument("app")
    deciding.add_argument("env")
    deciding.add_argument(
        "--request", metavar="ID", help="the request's id (default: the one pending now, named first)"
    )
    deciding.add_argument("--version", help="refuse unless the request is for this version")
    deciding.add_argument("--yes", action="store_true", help="do not ask for confirmation on a terminal")
    approve = commands.add_parser(
        "approve", parents=[common, acting, deciding], help="approve the pending deploy request"
    )
    approve.set_defaults(func=_approve)
    reject = commands.add_parser(
        "reject", parents=[common, acting, deciding], help="reject (or withdraw) the pending deploy request"
    )
    reject.set_defaults(func=_reject)

    rollback = commands.add_parser(
        "rollback", parents=[common, acting], help="back to the previous Healthy version, as a commit"
    )
    rollback.add_argument("app")
    rollback.add_argument("env")
    rollback.add_argument("--to", metavar="VERSION", help="the version to go back to")
    rollback.add_argument("--yes", action="store_true", help="do not ask for confirmation on a terminal")
    rollback.set_defaults(func=_rollback)

    freeze = commands.add_parser(
        "freeze", parents=[common, acting], help="refuse deploys to an environment for a while"
    )
    freeze.add_argument("env")
    freeze.add_argument("--for", dest="duration", required=True, help="how long, e.g. 2h")
    freeze.add_argument("--reason", required=True, help="why")
    freeze.set_defaults(func=_freeze)

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

    unfreeze = commands.add_parser("unfreeze", parents=[common], help="lift a manual freeze")
    unfreeze.add_argument("env")
    unfreeze.set_defaults(func=_unfreeze)

    locks = commands.add_parser("locks", parents=[common], help="app/environment locks held now, by whom and for what")
    locks.add_argument("-o", "--output", choices=("table", "json"), default="table")
    locks.set_defaults(func=_locks)

    cfg = commands.add_parser("config", help="work with the configuration file")
    cfg_commands = cfg.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = cfg_commands.add_parser(
        "check", parents=[common], help="validate the configuration; exit 0 valid, 2 invalid"
    )
    check.set_defaults(func=_config_check)

    sandbox = commands.add_parser("sandbox", help="the local Kubernetes API emulator")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", required=True)
    up = sandbox_commands.add_parser("up", help="run a sandbox cluster in the foreground")
    up.add_argument(
        "--state-dir", required=True, metavar="DIR", help="where objects, certificates and the kubeconfig live"
    )
    up.add_argument("--port", type=int, default=0, metavar="N", help="port on 127.0.0.1 (default: a free one)")
    up.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME[:GROUP,...]",
        help="a user with a token and kubeconfig of their own (repeatable); kubectl auth whoami names them",
    )
    up.set_defaults(func=_sandbox_up)

    demo = commands.add_parser(
        "demo", help="a sandbox with three apps, the controller and the console: release, roll back, make drift"
    )
    demo.add_argument(
        "--headless",
        action="store_true",
        help="a release dev -> prod with a canary, a bad one rolled back, drift healed; exit 0 when all behaved",
    )
    demo.add_argument(
        "--analysis",
        choices=("prometheus", "web"),
        help="where the canary analysis reads metrics (default: Prometheus when installed, else the simulator's JSON)",
    )
    demo.add_argument(
        "--slack-channel",
        default="#gitopsctl-demo",
        type=_slack_channel,
        metavar="#NAME",
        help="with SLACK_BOT_TOKEN set: where the bot reports (default #gitopsctl-demo)",
    )
    demo.add_argument(
        "--slack-port",
        type=_port,
        default=3000,
        metavar="N",
        help="with SLACK_BOT_TOKEN and no SLACK_APP_TOKEN: the port Slack's HTTP requests come to (default 3000)",
    )
    demo.set_defaults(func=_demo)

    # front ends add their own commands (serve: the Slack bot; tui: the console) without the engine importing them
    for plugin in sorted(entry_points(group="gitopsctl.commands"), key=lambda ep: ep.name):
        plugin.load()(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except GitOpsError as e:
        print(str(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
