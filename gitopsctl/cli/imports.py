"""Commands that turn Argo manifests into gitopsctl configuration: import argo-rollouts, import argocd."""

from __future__ import annotations

import argparse
import sys

from .. import importers
from ..errors import UsageError


def _argo_rollouts(args: argparse.Namespace) -> int:
    manifests = importers.load_manifests(args.files, importers.ARGO_ROLLOUTS_KINDS, "argo-rollouts")
    imported = importers.import_argo_rollouts(
        manifests, git_url=args.git_url, path=args.path, env=args.env, context=args.context
    )
    return _emit(imported, args)


def _argocd(args: argparse.Namespace) -> int:
    manifests = importers.load_manifests(args.files, importers.ARGOCD_KINDS, "argocd")
    return _emit(importers.import_argocd(manifests, env=args.env, context=args.context), args)


def _emit(imported: importers.Imported, args: argparse.Namespace) -> int:
    """The TOML on stdout or into a new file (an existing one only with --force); the notes summed up on stderr."""
    if args.write:
        try:
            with open(args.write, "w" if args.force else "x", encoding="utf-8") as handle:
                handle.write(imported.toml)
        except FileExistsError as e:
            raise UsageError(f"{args.write} exists; pass --force to overwrite it") from e
        except OSError as e:
            raise UsageError(f"cannot write {args.write}: {e.strerror}") from e
    else:
        sys.stdout.write(imported.toml)
    apps, templates = len(imported.config["apps"]), len(imported.config.get("analysis", {}).get("templates", {}))
    where = f" into {args.write}" if args.write else ""
    print(
        f"imported {apps} app{'s' * (apps != 1)} and {templates} analysis template{'s' * (templates != 1)}{where}; "
        f"{len(imported.not_imported)} fields not imported, {len(imported.converted)} converted "
        "(each is a comment in the TOML):",
        file=sys.stderr,
    )
    for subject in dict.fromkeys(note.subject for note in imported.notes):
        print(f"  {importers.one_line(subject)}:", file=sys.stderr)
        for note in imported.notes:
            if note.subject == subject:
                print(f"    {note.line()}", file=sys.stderr)
    return 0


def register(commands, common: argparse.ArgumentParser) -> None:
    """``common`` (--config) is not a parent: an import reads manifests, never the configuration."""
    command = commands.add_parser("import", help="turn Argo CD or Argo Rollouts manifests into gitopsctl configuration")
    kinds = command.add_subparsers(dest="import_command", metavar="SOURCE", required=True)
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("files", nargs="+", metavar="FILE", help="YAML manifests (1 MiB each at most)")
    output.add_argument("-o", "--write", metavar="FILE", help="write the TOML to FILE instead of printing it")
    output.add_argument("--force", action="store_true", help="with --write: overwrite FILE if it exists")
    output.add_argument("--env", help="the environment's name (default: the destination's namespace)")
    output.add_argument(
        "--context", help="the environment's kube context (default: the Argo CD cluster's name; in-cluster for its own)"
    )

    rollouts = kinds.add_parser(
        "argo-rollouts",
        parents=[output],
        help="Rollouts, AnalysisTemplates, ClusterAnalysisTemplates (and their Applications, HTTPRoutes)",
    )
    rollouts.add_argument("--git-url", metavar="URL", help="the GitOps repository, when no Application names it")
    rollouts.add_argument(
        "--path", metavar="PATH", help="the app's manifests in the repository, when no Application names them"
    )
    rollouts.set_defaults(func=_argo_rollouts)

    argocd = kinds.add_parser("argocd", parents=[output], help="Argo CD Applications")
    argocd.set_defaults(func=_argocd)
