"""Commands that look and change nothing: config check, status, diff, drift, whoami, history, locks, quarantine."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import config as config_module
from .. import output
from ..errors import ConfigError
from ..identity import person_of
from .common import emit_json, engine_for


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


def _status(args: argparse.Namespace) -> int:
    rows = engine_for(args).status(args.app, args.env)
    in_error = 1 if any(r.error for r in rows) else 0  # some apps could not be read: the rest are still listed
    if args.output == "json":
        emit_json([row.as_dict() for row in rows])
        return in_error
    print(
        output.table(
            ["app", "env", "version", "revision", "sync", "commits", "drift", "health", "message"],
            [
                [
                    r.app,
                    r.env,
                    r.version,
                    output.short(r.revision),
                    r.sync,
                    _commit_count(r.commits) if r.sync == "OutOfSync" else None,
                    r.drift,
                    r.health,
                    r.message,
                ]
                for r in rows
            ],
        )
    )
    return in_error


def _commit_count(commits) -> str:
    """How many commits Git has that were not delivered; the engine lists at most COMMITS_SHOWN of them."""
    from ..sync.pending import COMMITS_SHOWN

    return f"{len(commits)}+" if len(commits) >= COMMITS_SHOWN else str(len(commits))


def _commit_line(commit) -> str:
    return f"  {commit.sha[:12]} {commit.title} by {commit.author} at {commit.time}"


def _print_resource(resource, stream=sys.stdout) -> None:
    from ..sync import diff as diffing

    header, *body = diffing.describe(resource).splitlines()
    print(header, file=stream)
    for line in body:
        change = line[4:]
        colour = "32" if change.startswith("+") else "31" if change.startswith("-") else None
        if colour and output.use_colour(stream) and not change.startswith(("+++", "---")):
            line = f"    \x1b[{colour}m{change}\x1b[0m"
        print(line, file=stream)


def _diff(args: argparse.Namespace) -> int:
    result = engine_for(args).diff(args.app, args.env, args.revision)
    if args.output == "json":
        emit_json(result.as_dict())
    elif result.in_sync:
        print(f"{args.app} in {args.env} is in sync with {output.short(result.revision)}")
    else:
        print(
            f"{args.app} in {args.env} differs from Git at {output.short(result.revision)}: {len(result.resources)} objects"
        )
        _print_causes(result)
    return 0 if result.in_sync else 1


def _print_causes(result) -> None:
    """The two causes apart: Git's change not delivered yet (with its commits), then live changes made outside Git."""
    pending = result.pending
    commits = list(pending.commits) if pending is not None else []
    never = pending is None or pending.delivered is None
    if commits or result.git or never:
        since = "nothing was delivered yet" if never else f"delivered {output.short(pending.delivered)}"
        print(f"\nGit changes not delivered yet ({_commit_count(commits)} commits; {since}):")
        for commit in commits:
            print(_commit_line(commit))
        for resource in result.resources if never else result.git:
            _print_resource(resource)
    if result.drift:
        print(f"\nLive changes made outside Git ({len(result.drift)} objects differ from what was delivered):")
        for resource in result.drift:
            _print_resource(resource)


def _drift(args: argparse.Namespace) -> int:
    report = engine_for(args).drift(args.env, tuple(args.apps))
    if args.output == "json":
        emit_json(report.as_dict())
        return 1 if report.drifted or report.errors else 0
    for item in report.drifted:
        print(f"{item.app} in {item.env}: {len(item.resources)} drifted objects")
        for resource in item.resources:
            ref = resource.ref
            where = f"{ref.namespace}/" if ref.namespace else ""
            who = f" (changed by {resource.changed_by})" if resource.changed_by else ""
            print(f"  {ref.kind} {where}{ref.name}: {output.paint(resource.state)}{who}")
            for change in resource.fields:
                print(f"    {change.path}: {_show(change.desired)} (git) != {_show(change.live)} (live)")
    for failed in report.errors:
        print(f"{failed.app} in {failed.env}: not scanned: {failed.error}")
    clean = ", ".join(f"{app}/{env}" for app, env in report.clean)
    print(f"clean: {clean}" if clean else "clean: none")
    return 1 if report.drifted or report.errors else 0


def _show(value: Any) -> str:
    from ..sync.diff import MISSING

    if value is MISSING or value is None:
        return "<absent>"
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def _whoami(args: argparse.Namespace) -> int:
    """Who gitopsctl acts as in each environment: what its cluster says of your credentials, and the person."""
    engine = engine_for(args)
    envs = [args.env] if args.env else list(engine.config.promotion_chain)
    rows = []
    for env in envs:
        actor = engine.whoami(env)
        rows.append({"env": env, "user": actor, "person": person_of(engine.config, actor)})
    if args.output == "json":
        emit_json(rows)
    else:
        for row in rows:
            print("\t".join([row["env"], row["user"], *([f"(person {row['person']})"] if row["person"] else [])]))
    return 0


def _history(args: argparse.Namespace) -> int:
    entries = engine_for(args).history(args.app, args.env)
    if args.output == "json":
        from dataclasses import asdict

        emit_json([asdict(e) for e in entries])
        return 0
    print(
        output.table(
            ["time", "revision", "version", "actor", "result", "applied", "unchanged", "pruned", "health", "hooks"],
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
                    e.hooks_shown or None,
                ]
                for e in entries
            ],
        )
    )
    return 0


def _locks(args: argparse.Namespace) -> int:
    held = engine_for(args).locks()
    if args.output == "json":
        emit_json(
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


def _quarantine(args: argparse.Namespace) -> int:
    entries = engine_for(args).quarantined(args.app)
    if args.output == "json":
        emit_json([q.as_dict() for q in entries])
        return 0
    if not entries:
        print(f"no version of {args.app} is quarantined" if args.app else "no version is quarantined")
        return 0
    print(
        output.table(
            ["app", "version", "failed in", "reason", "by", "at"],
            [[q.app, q.version, q.env, q.reason, q.by, q.at] for q in entries],
        )
    )
    return 0


def register(commands, common: argparse.ArgumentParser) -> None:
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

    locks = commands.add_parser("locks", parents=[common], help="app/environment locks held now, by whom and for what")
    locks.add_argument("-o", "--output", choices=("table", "json"), default="table")
    locks.set_defaults(func=_locks)

    quarantine = commands.add_parser(
        "quarantine", parents=[common], help="versions refused everywhere since they were aborted or rolled back"
    )
    quarantine.add_argument("app", nargs="?", help="only this app")
    quarantine.add_argument("-o", "--output", choices=("table", "json"), default="table")
    quarantine.set_defaults(func=_quarantine)

    cfg = commands.add_parser("config", help="work with the configuration file")
    cfg_commands = cfg.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = cfg_commands.add_parser(
        "check", parents=[common], help="validate the configuration; exit 0 valid, 2 invalid"
    )
    check.set_defaults(func=_config_check)
