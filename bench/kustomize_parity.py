"""kustomize parity: gitopsctl's renderer against ``kubectl kustomize`` on kustomize's own examples and tests.

Targets, from a kustomize checkout: every directory under ``examples/`` holding a kustomization; the demo trees
the examples' markdown writes with heredocs (``cat <<EOF >$DEMO_HOME/...``), as its last write left each file;
and the ``api/krusty`` tests whose files and build path are all string literals (``th.WriteK/WriteF/WriteC``, also in the
helpers they call, and ``th.Run(path, options)`` with unchanged default options; no ``th.Reset``), each test's
files as its last write left them. Everything is committed into one temporary Git repository; each target is
rendered by gitopsctl's Renderer from Git, and by ``kubectl kustomize`` on the committed working tree with no way
out (no git on its PATH, HTTP(S) through a closed loopback port).

Prints the targets kubectl renders, those gitopsctl renders identically, the ratio, the refusals by design (no
apiVersion, remote bases, Helm, plugins needing exec) and every other miss with its reason, one line each, and any
target gitopsctl renders although kubectl cannot. Exits 1 on a miss that is not a refusal by design or on such a
target, 2 without a kustomize checkout.

Run: .venv/bin/python bench/kustomize_parity.py [KUSTOMIZE_CHECKOUT]  (or KUSTOMIZE_CHECKOUT=DIR); without
either, HEAD of the local mirror below is exported to a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import Row, report  # noqa: E402
from gitopsctl.errors import GitOpsError  # noqa: E402
from gitopsctl.source.render import KUSTOMIZATION_FILES, Renderer  # noqa: E402
from gitopsctl.source.repo import GitRepository  # noqa: E402

MIRROR = Path("/work/.mirror/kubernetes-sigs+kustomize/repo")
KUBECTL = shutil.which("kubectl") or "kubectl"
KUBECTL_TIMEOUT = 60.0
# gitopsctl's refusals by design, told apart by the sentence each says
BY_DESIGN = {
    "no apiVersion": "gitopsctl applies every rendered object to a cluster",
    "remote base": "never a remote kustomize base",
    "Helm": "runs Helm",
    "plugin needing exec": "not one of kustomize's builtin plugins",
}
_GO_STRING = r'(`[^`]*`|"(?:[^"\\\n]|\\.)*")'
_RUN = re.compile(rf"th\.Run\(\s*{_GO_STRING}\s*,\s*(th\.MakeDefaultOptions\(\)|\w+)\s*\)")
_STEP = re.compile(rf"th\.Write([KFC])\(\s*{_GO_STRING}\s*,\s*{_GO_STRING}\s*\)|\b(\w+)\(th\)")
_HELPER = re.compile(r"^func (\w+)\(th kusttest_test\.Harness\) \{\n(.*?)^\}", re.M | re.S)
_TEST = re.compile(r"^func (Test\w+)\(t \*testing\.T\) \{\n(.*?)^\}", re.M | re.S)
_TH_CALL = re.compile(r"\bth\.(\w+)\(")
_TH_CALLS_ALLOWED = {"WriteK", "WriteF", "WriteC", "Run", "MakeDefaultOptions", "AssertActualEqualsExpected"}
_HEREDOC = re.compile(r"^cat <<'?EOF'? *(>>?) *\"?(\$[\w{}]+[^\s\"]*)\"?\n(.*?)^EOF$", re.M | re.S)
_VARIABLE = re.compile(r"^(\w+)=\"?(\$[\w{}]+[^\s\"]*)\"?$", re.M)
_KUSTOMIZATION_HEADERS = {
    "K": "\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
    "C": "\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
}


@dataclass
class Outcome:
    target: str
    kubectl_renders: bool
    gitopsctl_renders: bool = False
    identical: bool = False
    refusal: str = ""  # which refusal by design, if gitopsctl refused so
    reason: str = ""  # why it is not identical, one line


def checkout(argument: str | None, scratch: Path) -> Path:
    """The kustomize checkout to measure against: the argument, $KUSTOMIZE_CHECKOUT, or the mirror's HEAD."""
    given = argument or os.environ.get("KUSTOMIZE_CHECKOUT")
    if given:
        if not (Path(given) / "examples").is_dir():
            print(f"{given} is not a kustomize checkout (it has no examples/ directory)", file=sys.stderr)
            sys.exit(2)
        return Path(given)
    if not MIRROR.is_dir():
        print(
            f"no kustomize checkout: pass its directory (or set KUSTOMIZE_CHECKOUT); {MIRROR} is absent",
            file=sys.stderr,
        )
        sys.exit(2)
    archive = scratch / "kustomize.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "--git-dir", str(MIRROR), "archive", "--format=tar", "HEAD", "examples", "api/krusty"],
            stdout=out,
            check=True,
        )
    target = scratch / "kustomize"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def example_targets(source: Path, tree: Path) -> list[str]:
    """examples/ as it is, and each directory in it holding a kustomization."""
    shutil.copytree(source / "examples", tree / "examples", symlinks=True)
    return sorted(
        {str(p.parent.relative_to(tree)) for name in KUSTOMIZATION_FILES for p in tree.glob(f"examples/**/{name}")}
    )


def markdown_targets(source: Path, tree: Path) -> list[str]:
    """The $DEMO_HOME trees the examples' markdown writes, under examples-md/<document>/."""
    targets: list[str] = []
    for document in sorted((source / "examples").rglob("*.md")):
        text = document.read_text(errors="replace")
        home = tree / "examples-md" / document.relative_to(source / "examples").with_suffix("")
        variables = {"DEMO_HOME": str(home)}
        for name, value in _VARIABLE.findall(text):
            variables.setdefault(name, _expand(value, variables))
        wrote = False
        for mode, destination, body in _HEREDOC.findall(text):
            path = Path(_expand(destination, variables))
            if not path.is_absolute() or home not in path.parents:
                continue
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a" if mode == ">>" else "w") as out:
                    out.write(body)
            except OSError:
                continue  # a path the document also writes as a directory, or the other way round
            wrote = True
        if wrote:
            targets += sorted(
                {str(p.parent.relative_to(tree)) for name in KUSTOMIZATION_FILES for p in home.rglob(name)}
            )
    return targets


def _expand(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), value)


def krusty_targets(source: Path, tree: Path) -> tuple[list[str], int]:
    """api/krusty tests whose files and build paths are literals, under krusty/<file>/<test>/; and how many
    tests were left out (computed strings, table-driven, options changed, plugins, resets)."""
    test_files = sorted((source / "api" / "krusty").glob("*_test.go"))
    helpers = {name: body for f in test_files for name, body in _HELPER.findall(f.read_text())}
    targets: list[str] = []
    skipped = 0
    for test_file in test_files:
        for name, body in _TEST.findall(test_file.read_text()):
            writes = _literal_writes(body, helpers, depth=0)
            runs = [path for path, options in _RUN.findall(body) if _default_options(options, body)]
            if writes is None or not runs or set(_TH_CALL.findall(body)) - _TH_CALLS_ALLOWED:
                skipped += 1
                continue
            home = tree / "krusty" / test_file.stem / name
            files: dict[Path, str] = {}
            try:
                for kind, path, content in writes:
                    where = home / _go_string(path).lstrip("/")
                    if kind in _KUSTOMIZATION_HEADERS:
                        files[where / "kustomization.yaml"] = _KUSTOMIZATION_HEADERS[kind] + _go_string(content)
                    else:
                        files[where] = _go_string(content)
                for where, content in files.items():
                    where.parent.mkdir(parents=True, exist_ok=True)
                    where.write_text(content)
            except (OSError, ValueError):
                shutil.rmtree(home, ignore_errors=True)
                skipped += 1
                continue
            targets += sorted({str((home / _go_string(run).lstrip("/")).relative_to(tree)) for run in runs})
    return targets, skipped


def _literal_writes(body: str, helpers: dict[str, str], depth: int) -> list[tuple[str, str, str]] | None:
    """The harness writes ``body`` makes, in order, helpers (``writeBase(th)``) expanded; None unless every one
    is a literal."""
    if depth and set(_TH_CALL.findall(body)) - {"WriteK", "WriteF", "WriteC"}:
        return None
    writes: list[tuple[str, str, str]] = []
    for step in _STEP.finditer(body):
        kind, path, content, helper = step.groups()
        if helper is None:
            writes.append((kind, path, content))
            continue
        expanded = _literal_writes(helpers[helper], helpers, depth + 1) if helper in helpers and depth < 5 else None
        if expanded is None:
            return None
        writes += expanded
    return writes if len([w for w in _STEP.finditer(body) if w.group(4) is None]) == body.count("th.Write") else None


def _default_options(options: str, body: str) -> bool:
    """Whether a ``th.Run`` gets kustomize's default options: the call itself, or a variable made by it, unchanged."""
    if options.startswith("th.MakeDefaultOptions"):
        return True
    made = re.search(rf"\b{options} := th\.MakeDefaultOptions\(\)", body)
    return made is not None and not re.search(rf"\b{options}\.\w+(\.\w+)* *=", body)


def _go_string(literal: str) -> str:
    """A Go string literal's value: raw (backticks) as it is, interpreted through JSON's escapes (Go's common ones)."""
    if literal.startswith("`"):
        return literal[1:-1]
    value = json.loads(literal)
    if not isinstance(value, str):
        raise ValueError(literal)
    return value


def commit(tree: Path) -> str:
    git = ["git", "-C", str(tree), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "kustomize's examples and tests"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def kubectl(directory: Path, home: Path) -> list | None:
    """What ``kubectl kustomize`` renders from ``directory`` (its documents), None when it cannot."""
    closed = "http://127.0.0.1:9"  # nothing listens there: any download fails at once, on this machine
    env = {"PATH": "", "HOME": str(home), "HTTPS_PROXY": closed, "HTTP_PROXY": closed, "NO_PROXY": ""}
    try:
        done = subprocess.run(
            [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, env=env, timeout=KUBECTL_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    try:
        return [d for d in yaml.safe_load_all(done.stdout) if d is not None]
    except yaml.YAMLError:
        return None


def measure(renderer: Renderer, sha: str, tree: Path, target: str, home: Path) -> Outcome:
    expected = kubectl(tree / target, home)
    outcome = Outcome(target, expected is not None)
    try:
        rendered = renderer.render(sha, target)
    except GitOpsError as e:
        message = " ".join(str(e).split())
        outcome.refusal = next((label for label, sentence in BY_DESIGN.items() if sentence in message), "")
        outcome.reason = message[:300]
        return outcome
    outcome.gitopsctl_renders = True
    if expected is None:
        return outcome
    objects = list(rendered.objects)
    outcome.identical = objects == expected
    if not outcome.identical:
        first = next((i for i, (a, b) in enumerate(zip(objects, expected, strict=False)) if a != b), None)
        where = f"; first difference at object {first + 1}" if first is not None else ""
        outcome.reason = f"renders differently: gitopsctl {len(objects)} objects, kubectl {len(expected)}{where}"
    return outcome


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="kustomize-parity-") as tmp:
        scratch = Path(tmp)
        source = checkout(argv[1] if len(argv) > 1 else None, scratch)
        tree = scratch / "repo"
        tree.mkdir()
        families = {
            "examples/": example_targets(source, tree),
            "examples/*.md demos": markdown_targets(source, tree),
        }
        families["api/krusty tests"], krusty_skipped = krusty_targets(source, tree)
        sha = commit(tree)
        renderer = Renderer(GitRepository(str(tree), "main", scratch / "cache"), max_bytes=64 * 1024 * 1024)
        (scratch / "home").mkdir()
        outcomes = {
            family: [measure(renderer, sha, tree, target, scratch / "home") for target in targets]
            for family, targets in families.items()
        }
    return summarize(outcomes, krusty_skipped)


def summarize(outcomes: dict[str, list[Outcome]], krusty_skipped: int) -> int:
    every = [o for found in outcomes.values() for o in found]
    renders = [o for o in every if o.kubectl_renders]
    identical = [o for o in renders if o.identical]
    by_design = [o for o in renders if not o.identical and o.refusal]
    misses = [o for o in renders if not o.identical and not o.refusal]
    for family, found in outcomes.items():
        family_renders = [o for o in found if o.kubectl_renders]
        same = sum(o.identical for o in family_renders)
        print(f"{family}: {len(found)} targets, kubectl renders {len(family_renders)}, gitopsctl identically {same}")
    print(
        f"api/krusty tests left out (files or paths not literal, table-driven, options changed, plugins, resets): {krusty_skipped}"
    )
    print(f"targets kubectl kustomize renders: {len(renders)} (of {len(every)} found; kubectl fails on the rest)")
    print(f"targets gitopsctl renders identically: {len(identical)}")
    print(f"ratio: {len(identical)}/{len(renders)} = {len(identical) / max(len(renders), 1):.1%}")
    counts = Counter(o.refusal for o in by_design)
    print(f"refused by design: {len(by_design)} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items())) or 'none'})")
    without = len(renders) - len(by_design)
    print(f"ratio without refusals by design: {len(identical)}/{without} = {len(identical) / max(without, 1):.1%}")
    for o in by_design:
        print(f"  refused ({o.refusal}): {o.target}: {o.reason}")
    looser = [o for o in every if o.gitopsctl_renders and not o.kubectl_renders]
    print(f"targets kubectl cannot render but gitopsctl renders: {len(looser)}")
    for o in looser:
        print(f"  looser: {o.target}")
    print(f"misses: {len(misses)}")
    for o in misses:
        print(f"  miss: {o.target}: {o.reason}")
    row = Row(
        f"kustomize parity: {len(every)} targets from kustomize's own examples/, the demos its examples/*.md write "
        "and api/krusty tests with literal files, rendered by gitopsctl and by `kubectl kustomize`",
        f"{len(identical)} of the {len(renders)} kubectl renders identical; {len(by_design)} refused by design "
        f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items())) or 'none'}); {len(misses)} misses; "
        f"{len(looser)} rendered that kubectl refuses",
        target="0 misses, 0 looser",
        ratio=f"{len(identical)}/{len(renders)} = {len(identical) / max(len(renders), 1):.1%} of kubectl's renders",
        passed=not misses and not looser,
        command=".venv/bin/python bench/kustomize_parity.py [KUSTOMIZE_CHECKOUT]",
    )
    return report("kustomize_parity", [row])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
