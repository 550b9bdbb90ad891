"""The command line is put together from the engine's commands and plugins: sandbox and demo come from their own packages."""

from __future__ import annotations

import argparse
from importlib.metadata import entry_points

import gitopsctl.cli
from gitopsctl.cli.main import build_parser


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_console_script_is_the_cli_packages_main():
    (script,) = entry_points(group="console_scripts", name="gitopsctl")
    assert script.load() is gitopsctl.cli.main


def test_sandbox_up_and_demo_are_registered_by_their_own_packages():
    commands = _commands(build_parser())
    up = _commands(commands["sandbox"])["up"]
    assert up.get_default("func").__module__ == "kubesandbox.command"
    assert commands["demo"].get_default("func").__module__ == "demo.command"
    assert {"serve", "tui", "status", "deploy", "rollout", "config"} <= set(commands)
