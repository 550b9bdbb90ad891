"""``analysis try``: a template author's check of a condition on a value, judged as a measurement would be;
``analysis replay``: a template tried on an app's past rollouts, from Prometheus's history."""

from __future__ import annotations

import argparse
import sys

from .. import output
from ..config import PROVIDERS
from .common import emit_json, engine_for


def _try(args: argparse.Namespace) -> int:
    from ..analysis.conditions import ConditionError  # the analysis runtime loads when asked for, not at start-up
    from ..analysis.trial import read_result, try_conditions

    text = sys.stdin.read(1_000_001) if args.result == "-" else args.result
    if len(text) > 1_000_000:
        print("the result is larger than 1 MB", file=sys.stderr)
        return 2
    try:
        result = read_result(text, args.provider)
        trial = try_conditions(
            args.success, args.failure, result, provider=args.provider, argo_compatible_nan=args.argo_compatible_nan
        )
    except (ValueError, ConditionError) as e:
        print(str(e), file=sys.stderr)
        return 2
    if args.output == "json":
        emit_json(trial.as_dict())
    else:
        why = f": {trial.message}" if trial.message else ""
        print(f"{trial.phase}{why} (result = {trial.shown_result})")
    return 0


def _replay(args: argparse.Namespace) -> int:
    report = engine_for(args).replays.replay(args.template, args.app, args.env, args.last)
    if args.output == "json":
        emit_json(report.as_dict())
        return 0
    print(f"{args.template} replayed on the last {args.last} rollout(s) of {args.app} in {args.env}:")
    rows = [
        (
            r.window.version,
            r.window.ended,
            f"{r.window.seconds:.1f}s",
            r.phase if r.phase != "Running" else "undecided",
            "-" if r.decided_after is None else f"{r.decided_after:.1f}s",
            r.verdict,
            r.message[:80],
        )
        for r in report.replayed
    ]
    print(output.table(("version", "ended", "ran", "would have", "after", "verdict", "why"), rows))
    for skipped in report.skipped:
        print(f"skipped {skipped}")
    print(report.summary if report.replayed else "no ended rollout to replay")
    return 0


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    analysis = commands.add_parser("analysis", parents=[common], help="work with analysis templates")
    verbs = analysis.add_subparsers(dest="verb", metavar="VERB", required=True)
    trial = verbs.add_parser(
        "try",
        parents=[common],
        help="judge a result with conditions, exactly as a measurement would be",
        description=(
            "Print the phase (Successful, Failed, Inconclusive, Error) a measurement of RESULT would get, and why. "
            "Exit 0 whatever the phase; 2 for a condition config check would refuse or a result that is not JSON."
        ),
    )
    trial.add_argument("--success", metavar="COND", help="success_condition, e.g. 'result[0] >= 0.99'")
    trial.add_argument("--failure", metavar="COND", help="failure_condition, e.g. 'result[0] < 0.95'")
    trial.add_argument(
        "--result",
        metavar="JSON",
        required=True,
        help="the value as JSON (a number, a list for a vector, the Prometheus API's answer, any JSON for web), "
        "or - to read it from standard input",
    )
    trial.add_argument("--provider", choices=PROVIDERS, default="prometheus", help="who answered (default: prometheus)")
    trial.add_argument(
        "--argo-compatible-nan",
        action="store_true",
        help="judge nil, empty, NaN and Inf by the conditions alone, as Argo Rollouts does",
    )
    trial.add_argument("-o", "--output", choices=["text", "json"], default="text")
    trial.set_defaults(func=_try)
    replay = verbs.add_parser(
        "replay",
        parents=[common],
        help="what a template would have decided on an app's past rollouts, from Prometheus's history",
        description=(
            "Measure TEMPLATE over each of the last N rollouts' time windows as a rollout would (every interval, "
            "the same conditions and limits), and print what it would have decided and when, beside how each ended."
        ),
    )
    replay.add_argument("template", help="an analysis template of the configuration ([analysis.templates.NAME])")
    replay.add_argument("--app", required=True)
    replay.add_argument("--env", required=True)
    replay.add_argument("--last", type=int, default=5, metavar="N", help="how many past rollouts (default 5)")
    replay.add_argument("-o", "--output", choices=["text", "json"], default="text")
    replay.set_defaults(func=_replay)
