"""``gitopsctl sandbox up``, registered through the ``gitopsctl.commands`` entry points like ``serve`` and ``tui``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from .cluster import Sandbox


def _up(args: argparse.Namespace) -> int:
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


def register(commands, common: argparse.ArgumentParser) -> None:
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
    up.set_defaults(func=_up)
