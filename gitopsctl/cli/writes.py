"""Commands that change what runs, each through the engine's gates: sync, deploy, approve, reject, rollback, adopt,
freeze, unquarantine."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta

from .. import output
from ..durations import parse_duration
from ..errors import UsageError
from .common import emit_json, engine_for, timeout


def print_deploy(result, args: argparse.Namespace) -> int:
    """A deploy's outcome, as text or JSON; the exit code (1 when it failed or was aborted)."""
    if args.output == "json":
        emit_json(result.as_dict())
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


def _sync(args: argparse.Namespace) -> int:
    progress = (lambda message: print(message, file=sys.stderr, flush=True)) if args.output == "text" else None
    result = engine_for(args).sync(
        args.app,
        args.env,
        revision=args.revision,
        dry_run=args.dry_run,
        prune=not args.no_prune,
        allow_empty=args.allow_empty,
        wait=args.wait,
        timeout=timeout(args),
        progress=progress,
    )
    if args.output == "json":
        emit_json(result.as_dict())
    elif result.result == "PendingApproval":
        request = result.request
        print(
            f"{result.app} in {result.env} at {output.short(result.revision)} is waiting for approval "
            f"({result.message}); it is delivered when approved: gitopsctl approve {result.app} {result.env}"
            + (f" --request {request.id}" if request is not None else "")
        )
    elif result.result == "Progressing" and result.rollout is not None:
        r = result.rollout
        print(
            f"{output.paint(r.phase)}: canary rollout of {result.app} {r.stable_version} -> {r.canary_version} in "
            f"{result.env} for {output.short(result.revision)}, {r.weight}% on the canary"
            + (f" ({r.message})" if r.message else "")
            + f"; follow it with: gitopsctl rollout status {result.app} {result.env} --watch"
        )
    else:
        verb = "would apply" if result.dry_run else "applied"
        pruned = "would prune" if result.dry_run else "pruned"
        print(
            f"{output.paint(result.result)}: {args.app} in {args.env} at {output.short(result.revision)} "
            f"(version {result.version or '-'}): {verb} {len(result.applied)}, unchanged {result.unchanged}, "
            f"{pruned} {len(result.pruned)}; health {output.paint(result.health)}"
            + (f" ({result.message})" if result.message else "")
        )
        for run in result.hooks:
            print(
                f"  {run.phase:<9} {run.ref}  {output.paint(run.result)} in {run.seconds:.1f}s"
                + (f": {run.message}" if run.result == "Failed" else "")
            )
    return 0 if result.result in ("Succeeded", "Progressing", "PendingApproval") else 1


def _confirm(what: str, args: argparse.Namespace) -> None:
    """Ask on a terminal, unless --yes; scripts (no terminal) are not asked."""
    if args.yes or not sys.stdin.isatty():
        return
    answer = input(f"{what}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was changed")


def _deploy(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    _confirm(f"Deploy {args.app} {args.version or '(the version Healthy upstream)'} to {args.env}", args)
    result = engine.deploy(
        args.app,
        args.env,
        args.version,
        break_glass=args.break_glass,
        wait=args.wait,
        reason=args.reason or "",
        timeout=timeout(args),
    )
    return print_deploy(result, args)


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
    engine = engine_for(args)
    request = _decided_request(engine, args, "approving")
    result = engine.approve(args.app, args.env, request=request, version=args.version, timeout=timeout(args))
    return print_deploy(result, args)


def _reject(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    request = engine.reject(
        args.app, args.env, request=_decided_request(engine, args, "rejecting"), version=args.version
    )
    print(f"{'withdrew' if request.state == 'Withdrawn' else 'rejected'} the {request.describe()}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    _confirm(f"Roll back {args.app} in {args.env}" + (f" to {args.to}" if args.to else ""), args)
    return print_deploy(engine.rollback(args.app, args.env, to=args.to, timeout=timeout(args)), args)


def _adopted_lines(adoption) -> list[str]:
    """One line per field; values as JSON, so a hostile live value cannot drive the terminal."""
    return [
        f"  {f.ref.kind}/{f.ref.name} {f.path}: {json.dumps(f.desired)} -> {json.dumps(f.live)}  ({f.where})"
        for f in adoption.fields
    ]


def _adopt(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    fields = tuple(args.fields or ())
    plan = engine.adopt(args.app, args.env, fields=fields, dry_run=True)
    if args.dry_run:
        if args.output == "json":
            emit_json(plan.as_dict())
        else:
            print(f"would commit to Git (nothing written): {plan.title}", *_adopted_lines(plan), sep="\n")
        return 0
    if args.output == "text" and not args.yes and sys.stdin.isatty():
        print(plan.title, *_adopted_lines(plan), sep="\n")
    _confirm(f"Keep these in Git for {args.app} in {args.env}", args)
    adoption = engine.adopt(args.app, args.env, fields=fields, timeout=timeout(args))
    result = adoption.result
    if args.output == "json":
        emit_json(adoption.as_dict())
    elif adoption.undelivered:
        print(
            f"adopted into Git in commit {output.short(adoption.commit)}, not delivered yet: {adoption.undelivered}; "
            f"gitopsctl sync {args.app} {args.env} delivers it"
        )
    elif result is not None and result.result == "PendingApproval":
        print(
            f"adopted into Git in commit {output.short(adoption.commit)}; it is delivered when approved "
            f"({result.message}): gitopsctl approve {args.app} {args.env}"
        )
    else:
        state = result.result if result is not None else "Failed"
        by = ", ".join(adoption.managers) or "unknown"
        print(
            f"{output.paint(state)}: {adoption.title}, in commit {output.short(adoption.commit)} "
            f"(changed live by {by})",
            *_adopted_lines(adoption),
            sep="\n",
        )
    return 0 if result is not None and result.result in ("Succeeded", "Progressing", "PendingApproval") else 1


def _freeze(args: argparse.Namespace) -> int:
    try:
        duration = timedelta(seconds=parse_duration(args.duration))
    except ValueError as e:
        raise UsageError(f"--for: {e}") from e
    freeze = engine_for(args).freeze(args.env, duration=duration, reason=args.reason or "")
    print(f"{args.env} is frozen until {freeze.until:%Y-%m-%d %H:%M} UTC: {freeze.reason}")
    return 0


def _unfreeze(args: argparse.Namespace) -> int:
    removed = engine_for(args).unfreeze(args.env)
    print(f"{args.env} is unfrozen" if removed else f"{args.env} had no manual freeze (configured windows still apply)")
    return 0


def _unquarantine(args: argparse.Namespace) -> int:
    lifted = engine_for(args).unquarantine(args.app, args.version, reason=args.reason)
    print(
        f"{lifted.app} {lifted.version} may be delivered again: quarantine lifted by {lifted.lifted_by} "
        f"({lifted.lifted_reason}); it had failed in {lifted.env} ({lifted.reason})"
    )
    return 0


def register(commands, common: argparse.ArgumentParser) -> None:
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

    adopt = commands.add_parser(
        "adopt",
        parents=[common, acting],
        help="keep a hand-made change: write the drifted live values into Git as a commit, then deliver it",
    )
    adopt.add_argument("app")
    adopt.add_argument("env")
    adopt.add_argument(
        "--fields",
        nargs="+",
        metavar="PATH",
        help="only these drifted fields, as `gitopsctl drift` names them (spec.replicas, or Deployment/web:spec.replicas)",
    )
    adopt.add_argument("--dry-run", action="store_true", help="show what would be written, proven by rendering")
    adopt.add_argument("--yes", action="store_true", help="do not ask for confirmation on a terminal")
    adopt.set_defaults(func=_adopt)

    freeze = commands.add_parser(
        "freeze", parents=[common, acting], help="refuse deploys to an environment for a while"
    )
    freeze.add_argument("env")
    freeze.add_argument("--for", dest="duration", required=True, help="how long, e.g. 2h")
    freeze.add_argument("--reason", required=True, help="why")
    freeze.set_defaults(func=_freeze)

    unfreeze = commands.add_parser("unfreeze", parents=[common], help="lift a manual freeze")
    unfreeze.add_argument("env")
    unfreeze.set_defaults(func=_unfreeze)

    unquarantine = commands.add_parser(
        "unquarantine", parents=[common], help="let a quarantined version be deployed and delivered again"
    )
    unquarantine.add_argument("app")
    unquarantine.add_argument("version", help="the version as `gitopsctl quarantine` lists it")
    unquarantine.add_argument("--reason", required=True, help="why it may run again (kept with who lifted it)")
    unquarantine.set_defaults(func=_unquarantine)
    register_incident(commands, common)


def print_timeline(mode, timeline) -> None:
    print(f"incident mode for {mode.id} in {mode.env} ended ({mode.ended_by}); what happened meanwhile:")
    rows = [(f"{m.at:%Y-%m-%d %H:%M:%S}", m.who, m.what, output.short(m.commit) or "-") for m in timeline]
    print(output.table(("time (UTC)", "who", "what", "commit"), rows))


def _incident(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    if args.action == "start":
        try:
            duration = timedelta(seconds=parse_duration(args.duration))
        except ValueError as e:
            raise UsageError(f"--for: {e}") from e
        if not args.id:
            raise UsageError("incident start needs --id naming the incident, such as INC-123")
        mode = engine.incidents.start(
            args.env, args.id, responders=tuple(args.responders or ()), duration=duration, actor=engine.whoami(args.env)
        )
        if args.output == "json":
            emit_json(mode.as_dict())
        else:
            print(
                f"{args.env} is in incident mode for {mode.id} until {mode.until:%Y-%m-%d %H:%M} UTC: "
                f"{', '.join(mode.responders)} deploy and roll back without a second approval; automatic delivery, "
                "promotion and self-heal are paused"
            )
        return 0
    if args.action == "end":
        mode, timeline = engine.incidents.end(args.env, actor=engine.whoami(args.env))
        if args.output == "json":
            emit_json({**mode.as_dict(), "timeline": [m.as_dict() for m in timeline]})
        else:
            print_timeline(mode, timeline)
        return 0
    mode = engine.incidents.active(engine.workspace.environment(args.env))
    if args.output == "json":
        emit_json(mode.as_dict() if mode else None)
    else:
        print(f"{args.env} is in {mode.shown}, started by {mode.started_by}" if mode else f"{args.env}: no incident")
    return 0


def register_incident(commands, common: argparse.ArgumentParser) -> None:
    incident = commands.add_parser(
        "incident",
        parents=[common],
        help="hand an environment to an incident's responders (start), end it with its timeline (end), or show it",
    )
    incident.add_argument("action", choices=("start", "end", "status"))
    incident.add_argument("env")
    incident.add_argument("--id", help="the incident's id, such as INC-123 (start)")
    incident.add_argument(
        "--responders",
        nargs="+",
        metavar="PERSON",
        help="who may deploy and roll back without a second approval: people of [people], Slack user IDs or "
        "cluster users (default: you)",
    )
    incident.add_argument("--for", dest="duration", default="2h", help="how long at most (default 2h; end it sooner)")
    incident.add_argument("-o", "--output", choices=("text", "json"), default="text")
    incident.set_defaults(func=_incident)
