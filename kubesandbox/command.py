"""``gitopsctl sandbox up``, registered through the ``gitopsctl.commands`` entry points like ``serve`` and ``tui``."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .faults import FAULTS_PATH, STATUSES, VERBS


def _up(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    users = {}
    for spec in args.user:
        name, _, groups = spec.partition(":")
        users[name] = [g for g in groups.split(",") if g]
    from .cluster import Sandbox  # the emulator loads when it runs, not at every gitopsctl command's start-up

    try:
        sandbox = Sandbox.start(
            Path(args.state_dir),
            port=args.port,
            users=users,
            audit_log=Path(args.audit_log) if args.audit_log else None,
        )
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


def admin_call(client: Any, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """One call to a sandbox endpoint that is not a Kubernetes API (``/sandbox/faults``), with the
    kubeconfig's server, CA and token, through the official client's own HTTP client."""
    cfg = client.configuration
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    headers["Authorization"] = cfg.get_api_key_with_prefix("BearerToken") or ""
    response = client.call_api(method, cfg.host + path, header_params=headers, body=body, _request_timeout=30)
    response.read()
    try:
        data = json.loads(response.data or b"{}")
    except ValueError:
        data = {}
    return response.status, data if isinstance(data, dict) else {}


def _fault(args: argparse.Namespace) -> int:
    """Add, list or clear the fault rules of a running sandbox, through its admin endpoint."""
    from kubernetes import config as kube_config

    try:
        client = kube_config.new_client_from_config(args.kubeconfig)
    except Exception as e:  # a missing or unreadable kubeconfig: one sentence
        print(f"cannot read the kubeconfig {args.kubeconfig}: {e}", file=sys.stderr)
        return 2
    if args.fault_command == "add":
        body = {
            key: value
            for key, value in {
                "verbs": args.verb or ["*"],
                "resource": args.resource,
                "namespace": args.namespace,
                "name": args.name,
                "user": args.user,
                "status": args.status,
                "retry_after": args.retry_after,
                "latency": args.latency,
                "drop": args.drop,
                "count": args.count,
                "seconds": args.seconds,
            }.items()
            if value is not None
        }
        method, path = "POST", FAULTS_PATH
    elif args.fault_command == "list":
        method, path, body = "GET", FAULTS_PATH, None
    else:
        method, path, body = "DELETE", f"{FAULTS_PATH}/{args.id}" if args.id else FAULTS_PATH, None
    try:
        status, answer = admin_call(client, method, path, body)
    except OSError as e:  # urllib3's errors are OSErrors too
        print(f"cannot reach the sandbox: {e}", file=sys.stderr)
        return 2
    if status >= 300:
        print(f"the sandbox refused: {answer.get('message') or status}", file=sys.stderr)
        return 2
    if args.fault_command == "add":
        print(f"fault {answer['id']} added")
    elif args.fault_command == "list":
        for rule in answer.get("items", []):
            print(json.dumps(rule, separators=(",", ":")))
    else:
        print(f"{answer['details']['removed']} fault(s) removed")
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
    up.add_argument(
        "--audit-log",
        metavar="FILE",
        help="append an audit event (audit.k8s.io/v1, level Metadata) per request to FILE, as JSON lines",
    )
    up.set_defaults(func=_up)

    fault = sandbox_commands.add_parser(
        "fault", help="make a running sandbox answer errors, slow down or drop connections (for tests and drills)"
    )
    fault_commands = fault.add_subparsers(dest="fault_command", metavar="ACTION", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--kubeconfig", required=True, metavar="PATH", help="the sandbox's admin kubeconfig")
    add = fault_commands.add_parser("add", parents=[where], help="add a fault rule")
    add.add_argument("--verb", action="append", choices=sorted(VERBS), help="a verb it meets (repeatable; default all)")
    add.add_argument("--resource", help="resource pattern, e.g. deployments or deployments/status (default *)")
    add.add_argument("--namespace", help="namespace pattern (default *)")
    add.add_argument("--name", help="object name pattern (default *)")
    add.add_argument("--user", help="user name pattern (default *)")
    answer = add.add_mutually_exclusive_group()
    answer.add_argument("--status", type=int, choices=sorted(STATUSES), help="answer this status")
    answer.add_argument("--drop", action="store_true", default=None, help="drop the connection without an answer")
    add.add_argument("--retry-after", type=int, help="Retry-After of a 429 (seconds, default 1)")
    add.add_argument("--latency", type=float, help="seconds to wait before answering")
    add.add_argument("--count", type=int, help="stop after this many matching requests")
    add.add_argument("--seconds", type=float, help="stop after this many seconds")
    add.set_defaults(func=_fault)
    listing = fault_commands.add_parser("list", parents=[where], help="the rules in force and how often they fired")
    listing.set_defaults(func=_fault)
    clear = fault_commands.add_parser("clear", parents=[where], help="remove every rule, or the one with ID")
    clear.add_argument("id", nargs="?", help="a rule's id (f1, f2…)")
    clear.set_defaults(func=_fault)
