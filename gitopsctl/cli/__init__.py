"""The ``gitopsctl`` command line, one module per kind of command.

``main`` builds the parser and dispatches; ``reads`` look (status, diff, drift,
whoami, history, locks, config check); ``writes`` change what runs (sync,
deploy, approve, reject, rollback, freeze); ``rollouts`` steer canaries.
Commands outside the engine (serve, tui, sandbox, demo) come in through the
``gitopsctl.commands`` entry points. The console script is ``gitopsctl.cli:main``.
"""

from .main import main

__all__ = ["main"]
