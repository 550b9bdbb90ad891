"""Writing to the GitOps repository: deploys, promotions and rollbacks are commits.

A working clone lives beside the read-only bare clone. Each change starts from
the remote's head, is committed with its trailers (``Deployed-by:``,
``Approved-by:``) and pushed; when the remote moved meanwhile, the change is
made again on top of the new head and pushed again (a rebase of our one
commit). Never forced.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import threading
from collections.abc import Callable
from pathlib import Path

import git
from git.exc import GitCommandError

from ..errors import SourceError, UnsafeInputError
from .locking import exclusive
from .safety import check_inside, check_ref, check_repo_url

PUSH_ATTEMPTS = 5
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


class GitWriter:
    def __init__(self, url: str, branch: str, cache_dir: Path, *, author_name: str, author_email: str) -> None:
        self.url = check_repo_url(url)
        self.branch = check_ref(branch)
        # resolved, so a symlink in a path below it can only come from the repository (and is refused on write)
        self.path = Path(cache_dir).expanduser().resolve() / f"work-{hashlib.sha256(url.encode()).hexdigest()[:16]}"
        self.author = git.Actor(author_name, author_email)
        self._lock = threading.Lock()
        self._repo: git.Repo | None = None

    def _open(self) -> git.Repo:
        if self._repo is None:
            try:
                if self.path.exists():
                    self._repo = git.Repo(self.path)
                else:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._repo = git.Repo.clone_from(self.url, self.path, branch=self.branch)
            except GitCommandError as e:
                raise SourceError(f"cannot clone {self.url} to write to it: {e.stderr.strip() or e}") from e
        return self._repo

    def _reset_to_remote(self, repo: git.Repo) -> None:
        repo.git.fetch("--", "origin", f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}")
        repo.git.checkout("-B", self.branch, f"refs/remotes/origin/{self.branch}")
        repo.git.reset("--hard", f"refs/remotes/origin/{self.branch}")
        repo.git.clean("-fdx")

    def commit(self, change: Callable[[Path], list[Path]], message: str, trailers: dict[str, str]) -> str:
        """Apply ``change`` (returns the files it wrote) to the branch head, commit, push; the new commit's SHA.

        Each file must lie inside the working clone through real directories (no symlinks); otherwise nothing is
        committed and the clone is reset.
        """
        body = _one_line(message) + "\n\n" + "\n".join(f"{k}: {_one_line(v)}" for k, v in trailers.items() if v) + "\n"
        with self._lock, exclusive(self.path):
            repo = self._open()
            for _ in range(PUSH_ATTEMPTS):
                try:
                    self._reset_to_remote(repo)
                except GitCommandError as e:
                    raise SourceError(f"cannot fetch {self.url}: {e.stderr.strip() or e}") from e
                try:
                    files = [check_inside(self.path, Path(f)) for f in change(self.path)]
                except UnsafeInputError:
                    self._reset_to_remote(repo)  # leave no half-made change behind in the working clone
                    raise
                existing = [str(f.relative_to(self.path)) for f in files if f.exists()]
                if existing:
                    repo.index.add(existing)
                if not repo.index.diff("HEAD"):
                    raise SourceError("nothing to commit: the repository already says this")
                commit = repo.index.commit(body, author=self.author, committer=self.author)
                try:
                    repo.git.push("--", "origin", f"HEAD:refs/heads/{self.branch}")
                except GitCommandError as e:
                    text = f"{e.stderr}"
                    if "fetch first" in text or "non-fast-forward" in text:
                        continue  # the remote moved: make the change again on its new head
                    raise SourceError(f"{self.url} refused the push: {_push_refusal(text)}") from e
                return commit.hexsha
        raise SourceError(f"{self.url} kept moving while pushing ({PUSH_ATTEMPTS} attempts); try again")

    def undo(self, root: Path, base: str, target: str, path: str) -> list[Path]:
        """Undo what ``base..target`` changed below ``path``, on top of the branch head (a ``change`` for commit).

        A reverse patch applied three-way, so later commits to other lines stay; when they touched the same lines,
        ``path`` is put back as it was at ``base``. Staged in the index; the files written are returned.
        """
        repo = self._open()
        for sha in (base, target):  # from a record in the cluster: never let one reach git as an option
            if not _FULL_SHA.match(sha):
                raise UnsafeInputError(f"refusing to undo {sha!r}: not a full commit SHA")
        patch = repo.git.diff(base, target, "--binary", "--", path, strip_newline_in_stdout=False)
        if not patch.strip():
            return []
        patch_file = Path(repo.git_dir) / "gitopsctl-undo.patch"
        patch_file.write_text(patch)
        try:
            repo.git.apply("-R", "--3way", "--index", str(patch_file))
        except GitCommandError:
            repo.git.reset("--hard", "HEAD")
            repo.git.rm("-r", "-q", "--ignore-unmatch", "--", path)
            if repo.git.ls_tree(base, "--", path):
                repo.git.checkout(base, "--", path)
        finally:
            patch_file.unlink(missing_ok=True)
        names = repo.git.diff("--cached", "--name-only", "-z", "HEAD").split("\0")
        inside = posixpath.normpath(path.strip("/"))
        outside = [] if inside == "." else [n for n in names if n and not (n + "/").startswith(inside + "/")]
        if outside:
            raise UnsafeInputError(f"undoing {target[:12]} would change {outside[0]}, outside {path}; refusing")
        return [root / n for n in names if n]


def _one_line(text: str) -> str:
    """Titles and trailer values on one line: text from Slack or a terminal cannot forge another trailer."""
    return " ".join(str(text).split())[:500]


def _push_refusal(stderr: str) -> str:
    """What the server said (a hook's ``remote:`` lines, or git's reason), on one line."""
    lines = [line.strip().removeprefix("stderr:").strip().strip("'").strip() for line in stderr.splitlines()]
    said = [line[len("remote:") :].strip() for line in lines if line.startswith("remote:")]
    reason = "; ".join(s for s in said if s) or " ".join(stderr.split())
    return reason[:300] or "no reason given"
