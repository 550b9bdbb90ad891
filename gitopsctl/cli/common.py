"""What every command's handler needs: the engine named by --config, JSON output, a --timeout read."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .. import config as config_module
from ..durations import parse_duration
from ..errors import UsageError


def engine_for(args: argparse.Namespace):
    from ..engine import Engine  # imported when a command runs: ``gitopsctl --help`` stays quick

    return Engine(config_module.load(args.config))


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def timeout(args: argparse.Namespace) -> float:
    try:
        return parse_duration(args.timeout)
    except ValueError as e:
        raise UsageError(f"--timeout: {e}") from e
