"""The GitOps repository: a bare clone in the cache directory, read at any revision.

Revisions are read from Git's object database, never from a working tree, so
readers of different revisions never disturb each other. GitPython's command
process is not thread-safe, so every call goes through one lock; reads are
fast and rendering is cached above this layer.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import BadName, GitCommandError, GitCommandNotFound, InvalidGitRepositoryError, NoSuchPathError

from ..errors import ManifestError, SourceError, UnsafeInputError
from .locking import exclusive
from .safety import check_ref, check_repo_url, check_tree_path

SYMLINK_MODE = 0o120000
MAX_SYMLINK_HOPS = 40  # Linux's MAXSYMLINKS: a longer chain of links is taken for a loop
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


INDEXED_COMMITS = 8


@dataclass(frozen=True)
class Entry:
    mode: int
    kind: str  # blob | tree | commit
    object_id: str


@dataclass(frozen=True)
class RepoFile:
    path: str  # repository-relative
    data: bytes


class GitRepository:
    def __init__(self, url: str, branch: str, cache_dir: Path, *, fetch_interval: float = 0.0) -> None:
        self.url = check_repo_url(url)
        self.branch = check_ref(branch)
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.path = Path(cache_dir).expanduser() / f"repo-{digest}.git"
        self.fetch_interval = fetch_interval
        self._lock = threading.RLock()
        self._repo: git.Repo | None = None
        self._fetched_at = 0.0
        self._indexes: OrderedDict[str, dict[str, Entry]] = OrderedDict()

    # ------------------------------------------------------------ clone/fetch

    def _open(self) -> git.Repo:
        if self._repo is not None:
            return self._repo
        try:
            if self.path.exists():
                self._repo = git.Repo(self.path)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with exclusive(self.path):
                    if not self.path.exists():  # another process may have cloned it meanwhile
                        git.Repo.clone_from(self.url, self.path, bare=True)
                self._repo = git.Repo(self.path)
                self._fetched_at = time.monotonic()
        except GitCommandNotFound as e:
            raise SourceError("git is not installed; install git to read the GitOps repository") from e
        except (GitCommandError, InvalidGitRepositoryError, NoSuchPathError) as e:
            raise SourceError(f"cannot clone {self.url}: {_git_reason(e)}; check git.url and your access to it") from e
        return self._repo

    def fetch(self, *, force: bool = False) -> None:
        """Fetch branches and tags; at most once per ``fetch_interval`` unless forced."""
        with self._lock:
            repo = self._open()
            if not force and time.monotonic() - self._fetched_at < self.fetch_interval:
                return
            try:
                with exclusive(self.path):
                    repo.git.fetch("--prune", "--tags", "--", self.url, "+refs/heads/*:refs/heads/*")
            except GitCommandError as e:
                raise SourceError(f"cannot fetch {self.url}: {_git_reason(e)}") from e
            self._fetched_at = time.monotonic()

    def resolve(self, revision: str | None = None) -> str:
        """The commit SHA of a branch, tag or SHA (the configured branch by default)."""
        ref = check_ref(revision or self.branch)
        with self._lock:
            repo = self._open()
            if not _FULL_SHA.match(ref) or not self._has_commit(repo, ref):
                self.fetch()
            for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
                try:
                    return repo.rev_parse(f"{candidate}^{{commit}}").hexsha
                except (BadName, ValueError, GitCommandError):
                    continue
        raise SourceError(f"revision {ref!r} does not exist in {self.url}; use a branch, a tag or a commit SHA")

    @staticmethod
    def _has_commit(repo: git.Repo, sha: str) -> bool:
        try:
            repo.rev_parse(f"{sha}^{{commit}}")
        except (BadName, ValueError, GitCommandError):
            return False
        return True

    # ----------------------------------------------------------------- reads

    def _index(self, sha: str) -> dict[str, Entry]:
        """Every path at ``sha`` -> (mode, type, object id), from one ``git ls-tree``; a few commits are kept.

        A hand-built tree can hold names git itself would never check out (``..``, ``/``, duplicates); the whole
        revision is refused then, before any path is used, naming the entry.
        """
        index = self._indexes.get(sha)
        if index is not None:
            self._indexes.move_to_end(sha)
            return index
        repo = self._open()
        listing = repo.git.ls_tree("-r", "-t", "-z", "--full-tree", sha)
        index = {"": Entry(0o040000, "tree", repo.commit(sha).tree.hexsha)}
        for record in listing.split("\0"):
            if not record:
                continue
            meta, _, path = record.partition("\t")
            mode, kind, object_id = meta.split(" ")
            if check_tree_path(path) in index:
                raise UnsafeInputError(f"refusing the Git tree entry {path!r}: the tree holds it twice")
            index[path] = Entry(int(mode, 8), kind, object_id)
        self._indexes[sha] = index
        while len(self._indexes) > INDEXED_COMMITS:
            self._indexes.popitem(last=False)
        return index

    def tree_id(self, sha: str, path: str) -> str | None:
        """The tree id of ``path`` at ``sha``; None when the path does not exist there."""
        with self._lock:
            entry = self._index(sha).get(path.strip("/"))
            return entry.object_id if entry is not None and entry.kind == "tree" else None

    def kind(self, sha: str, path: str) -> str | None:
        """``tree`` or ``blob`` (a file or symlink) for ``path`` at ``sha``; None when the path does not exist."""
        with self._lock:
            entry = self._index(sha).get(path.strip("/"))
            return entry.kind if entry is not None and entry.kind in ("tree", "blob") else None

    def entry(self, sha: str, path: str) -> Entry | None:
        """The tree entry at ``path`` (a symlink is an entry of its own, not followed); None when there is none."""
        with self._lock:
            return self._index(sha).get(path.strip("/"))

    def real_path(self, sha: str, path: str) -> str | None:
        """The real path ``path`` names at ``sha``, each symlink on the way followed as the OS follows it.

        None when nothing is there. A link leading out of the repository (an absolute target, or ``..`` past its
        root) is refused, naming the link and its target: whatever it reached would come from the machine, not Git.
        """
        with self._lock:
            index = self._index(sha)
            pending = [(part, "") for part in reversed(path.split("/"))]  # a stack of (part, the link it came from)
            real: list[str] = []
            hops = 0
            while pending:
                part, via = pending.pop()
                if part in ("", "."):
                    continue
                if part == "..":
                    if not real:
                        raise (
                            self._leaving(index, via)
                            if via
                            else UnsafeInputError(f"{path!r} is outside the repository")
                        )
                    real.pop()
                    continue
                current = "/".join([*real, part])
                entry = index.get(current)
                if entry is None:
                    return None
                if entry.mode == SYMLINK_MODE:
                    hops += 1
                    if hops > MAX_SYMLINK_HOPS:
                        raise ManifestError(
                            f"{current} is a symlink in a loop (more than {MAX_SYMLINK_HOPS} links deep)"
                        )
                    target = self._blob(entry.object_id).decode("utf-8", "replace")
                    if target.startswith("/"):
                        raise self._leaving(index, current)
                    pending.extend((step, current) for step in reversed(target.split("/")))
                    continue
                if entry.kind != "tree" and any(p not in ("", ".") for p, _ in pending):
                    return None  # a file cannot hold a path below it
                real.append(part)
            return "/".join(real)

    def _leaving(self, index: dict[str, Entry], link: str) -> UnsafeInputError:
        target = self._blob(index[link].object_id).decode("utf-8", "replace")
        return UnsafeInputError(
            f"{link} is a symlink to {target!r}, outside the repository; refusing it: "
            "point it at a file or directory inside the repository, or commit what it points to"
        )

    def entries_below(self, sha: str, root: str) -> list[tuple[str, Entry]]:
        """Every file and symlink below the directory ``root`` ("" is the whole repository), by path."""
        root = root.strip("/")
        with self._lock:
            prefix = f"{root}/" if root else ""
            return sorted(
                (path, entry)
                for path, entry in self._index(sha).items()
                if entry.kind == "blob" and path.startswith(prefix)
            )

    def read_blobs(self, object_ids: list[str], *, max_bytes: int, what: str) -> dict[str, bytes]:
        """The content of each blob, every size checked before any content is read, so a huge tree costs no memory."""
        with self._lock:
            odb = self._open().odb
            unique = sorted(set(object_ids))
            total = sum(odb.info(bytes.fromhex(object_id)).size for object_id in unique)
            if total > max_bytes:
                raise ManifestError(
                    f"{what} holds {total / 1e6:.1f} MB of files, more than the {max_bytes / 1e6:.0f} MB limit "
                    "(git.max_render_mb); split the app or raise the limit"
                )
            return {object_id: self._blob(object_id) for object_id in unique}

    def _blob(self, object_id: str) -> bytes:
        return self._open().odb.stream(bytes.fromhex(object_id)).read()

    def read_file(self, sha: str, path: str) -> bytes | None:
        """One regular file's content at ``sha``; None when there is no such file."""
        with self._lock:
            entry = self._index(sha).get(path)
            if entry is None or entry.kind != "blob" or entry.mode == SYMLINK_MODE:
                return None
            return self._blob(entry.object_id)

    def read_files(
        self, sha: str, root: str, *, max_bytes: int, suffixes: tuple[str, ...] | None = None
    ) -> list[RepoFile]:
        """Files below ``root`` (optionally only with these suffixes), symlinks resolved inside ``root`` only.

        Sizes are checked before any content is read, so a huge tree costs no memory.
        """
        root = root.strip("/")
        with self._lock:
            index = self._index(sha)
            if root not in index or index[root].kind != "tree":
                return []
            prefix = f"{root}/" if root else ""
            blobs = sorted(
                (path, entry)
                for path, entry in index.items()
                if entry.kind == "blob" and path.startswith(prefix) and (suffixes is None or path.endswith(suffixes))
            )
            repo = self._open()
            total = sum(repo.odb.info(bytes.fromhex(e.object_id)).size for _, e in blobs if e.mode != SYMLINK_MODE)
            if total > max_bytes:
                raise ManifestError(
                    f"{root} holds {total / 1e6:.1f} MB of files, more than the {max_bytes / 1e6:.0f} MB limit "
                    "(git.max_render_mb); split the app or raise the limit"
                )
            files = []
            for path, entry in blobs:
                if entry.mode == SYMLINK_MODE:
                    files.append(RepoFile(path, self._follow(index, path, self._blob(entry.object_id), root)))
                else:
                    files.append(RepoFile(path, self._blob(entry.object_id)))
            return files

    def _follow(self, index: dict[str, Entry], link: str, target_bytes: bytes, root: str) -> bytes:
        target = target_bytes.decode("utf-8", "replace")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
        if root:
            inside = resolved.startswith(f"{root}/")
        else:  # the repository's root: anything but a way up
            inside = resolved != ".." and not resolved.startswith("../")
        if posixpath.isabs(target) or not inside:
            raise ManifestError(
                f"{link} is a symlink that points outside {root or 'the repository'}; refusing to read it"
            )
        entry = index.get(resolved)
        if entry is None:
            raise ManifestError(f"{link} is a symlink to a file that does not exist")
        if entry.kind != "blob" or entry.mode == SYMLINK_MODE:
            raise ManifestError(f"{link} is a symlink to a directory or another symlink; point it at a file")
        return self._blob(entry.object_id)

    def log(self, sha: str, path: str, limit: int = 20) -> list[git.Commit]:
        with self._lock:
            return _loaded(self._open().iter_commits(sha, paths=path or None, max_count=limit))

    def between(self, since: str | None, until: str, paths: list[str], limit: int = 20) -> list[git.Commit]:
        """Commits reachable from ``until`` but not ``since`` that touched ``paths``, newest first.

        ``since`` no longer in the repository (history rewritten) counts as no ``since``.
        """
        with self._lock:
            repo = self._open()
            known = since is not None and self._has_commit(repo, since)
            spec = f"{since}..{until}" if known else until
            try:
                return _loaded(repo.iter_commits(spec, paths=paths or None, max_count=limit))
            except GitCommandError as e:
                raise SourceError(f"cannot read the commits of {until[:12]}: {_git_reason(e)}") from e

    def has(self, sha: str) -> bool:
        """Whether the commit is in the local clone (it may have been rewritten away upstream)."""
        with self._lock:
            return self._has_commit(self._open(), sha)


def _loaded(commits) -> list[git.Commit]:
    """Commits with what callers read of them loaded now, under the lock: GitPython reads a commit's fields
    lazily through one shared ``cat-file`` process, which a render reading blobs at the same time would garble."""
    found = list(commits)
    for commit in found:
        _ = (commit.message, commit.author, commit.committed_date)
    return found


def _git_reason(error: Exception) -> str:
    stderr = getattr(error, "stderr", "") or ""
    lines = [line.strip() for line in str(stderr).strip().strip("'").splitlines() if line.strip()]
    meaningful = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (meaningful or lines or [type(error).__name__])[-1].removeprefix("stderr: ").strip("'")
