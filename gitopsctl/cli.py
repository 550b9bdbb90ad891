"""The ``gitopsctl`` command line: parses arguments, calls the engine, prints results.

Exit codes: 0 success, 2 invalid input or configuration (one clear sentence on stderr).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from . import config as config_module
from .errors import ConfigError, GitOpsError


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
    try:
        sandbox = Sandbox.start(Path(args.state_dir), port=args.port)
    except OSError as e:
        print(f"cannot start the sandbox: {e.strerror or e}; choose another --port or --state-dir.", file=sys.stderr)
        return 2
    with sandbox:
        print(f"sandbox ready: kubeconfig={sandbox.kubeconfig} server={sandbox.server}", flush=True)
        while not stop.wait(0.5):
            pass
    print("sandbox stopped", flush=True)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .sandbox import demo

    return demo.run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gitopsctl", description="GitOps delivery for Kubernetes.")
    parser.add_argument(
        "--config", metavar="PATH", help="configuration file (default: $GITOPSCTL_CONFIG, then ./gitopsctl.toml)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    cfg = commands.add_parser("config", help="work with the configuration file")
    cfg_commands = cfg.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = cfg_commands.add_parser("check", help="validate the configuration; exit 0 valid, 2 invalid")
    check.add_argument("--config", dest="config", metavar="PATH", default=argparse.SUPPRESS)
    check.set_defaults(func=_config_check)

    sandbox = commands.add_parser("sandbox", help="the local Kubernetes API emulator")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", required=True)
    up = sandbox_commands.add_parser("up", help="run a sandbox cluster in the foreground")
    up.add_argument(
        "--state-dir", required=True, metavar="DIR", help="where objects, certificates and the kubeconfig live"
    )
    up.add_argument("--port", type=int, default=0, metavar="N", help="port on 127.0.0.1 (default: a free one)")
    up.set_defaults(func=_sandbox_up)

    demo = commands.add_parser("demo", help="start a sandbox, deploy a sample app and show it")
    demo.set_defaults(func=_demo)
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
