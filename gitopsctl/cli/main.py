"""The ``gitopsctl`` command line: parses arguments, calls the engine, prints results.

Exit codes: 0 success (in sync, clean); 1 differences, drift or a failed sync;
2 invalid input, configuration or an error (one sentence on stderr, nothing changed).
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from .. import failpoints
from ..errors import GitOpsError
from . import analysis, imports, reads, rollouts, writes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gitopsctl", description="GitOps delivery for Kubernetes.")
    parser.add_argument(
        "--config", metavar="PATH", help="configuration file (default: $GITOPSCTL_CONFIG, then ./gitopsctl.toml)"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (reads, writes, rollouts, imports, analysis):
        module.register(commands, common)
    # commands outside the engine (serve: the Slack bot; tui: the console; sandbox; demo) without it importing them
    for plugin in sorted(entry_points(group="gitopsctl.commands"), key=lambda ep: ep.name):
        plugin.load()(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        failpoints.armed()
    except ValueError as e:  # a mistyped fail point would otherwise never fire, and its test pass for nothing
        print(str(e), file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except GitOpsError as e:
        print(str(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
