"""Checks on input that reaches Git (repository URLs, revisions) or comes from it (tree paths, file writes).

A URL or ref that starts with ``-`` would be read by git as an option, and
``ext::`` URLs run commands; both are refused before git is called. GitPython
refuses unsafe protocols and options too; this is the first line, with a clear
sentence for the person who typed it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import UnsafeInputError

_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9][A-Za-z0-9.-]*:[A-Za-z0-9._~/+][^\s]*$")
_URL = re.compile(r"^(https|ssh)://([^/@\s]+@)?([A-Za-z0-9][A-Za-z0-9.-]*)(:\d+)?(/[^\s]*)?$")
_FILE = re.compile(r"^file:///[^\s]*$")
_LOCAL = re.compile(r"^/[^\s]*$")
_HEX = re.compile(r"^[0-9a-f]{7,64}$")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def check_repo_url(url: str) -> str:
    """Return ``url`` if it is https://, ssh://, scp-style user@host:path, file:// or an absolute local path."""
    if not url or url.startswith("-") or "::" in url or any(ord(c) < 0x20 or c == "\x7f" for c in url):
        raise UnsafeInputError(
            f"refusing repository URL {url!r}: use https://, ssh://, git@host:path or a local path "
            "(URLs starting with '-' or using transports such as ext:: are never passed to git)"
        )
    if _URL.match(url) or _SCP.match(url) or _FILE.match(url) or _LOCAL.match(url):
        return url
    raise UnsafeInputError(
        f"refusing repository URL {url!r}: use https://, ssh://, git@host:path, file:///path or an absolute local path"
    )


def check_ref(ref: str) -> str:
    """Return ``ref`` if it is a hex SHA or a valid ref name (git check-ref-format rules)."""
    if not ref or ref.startswith("-"):
        raise UnsafeInputError(
            f"refusing revision {ref!r}: a revision is a commit SHA, a branch or a tag, and never starts with '-'"
        )
    if _HEX.match(ref):
        return ref
    problems = (
        _REF_FORBIDDEN.search(ref)
        or ".." in ref
        or "@{" in ref
        or ref == "@"
        or "//" in ref
        or ref.endswith("/")
        or ref.endswith(".")
        or ref.startswith("/")
        or any(part.startswith(".") or part.endswith(".lock") for part in ref.split("/"))
    )
    if problems:
        raise UnsafeInputError(f"refusing revision {ref!r}: not a valid branch, tag or commit SHA")
    return ref


def check_tree_path(path: str) -> str:
    """Return ``path`` if it is a plain repository-relative path: no ``..``, ``.``, empty or absolute parts, no ``.git``.

    Git's own checkout refuses such names, but a tree object built by hand (``git mktree``) can hold them, and a
    bare repository accepts the push; read unchecked, ``a/../../x`` would be written outside the export directory.
    """
    problem = ""
    if not path or "\0" in path or "\\" in path:
        problem = "is empty or holds a NUL byte or a backslash"
    elif any(part in ("", ".", "..") for part in path.split("/")):
        problem = "has an empty, '.' or '..' part or is absolute"
    elif any(part.lower() == ".git" for part in path.split("/")):
        problem = "has a '.git' part"
    if problem:
        raise UnsafeInputError(
            f"refusing the Git tree entry {path!r}: it {problem}; remove it from the repository with a new commit"
        )
    return path


def check_inside(root: Path, target: Path) -> Path:
    """Return ``target`` if it lies inside ``root`` through real directories only, refusing any symlink on the way.

    Checked before a write: a symlinked file or parent directory (from a hostile tree or a working clone) would
    otherwise carry the write outside ``root``. ``target`` must be lexically below ``root`` with no ``..`` part.
    """
    root = Path(os.path.abspath(root))
    target = Path(target) if Path(target).is_absolute() else root / target
    try:
        relative = target.relative_to(root)
    except ValueError:
        raise UnsafeInputError(f"refusing to write {target}: it is outside {root}") from None
    if not relative.parts or any(part in (".", "..") for part in relative.parts):
        raise UnsafeInputError(f"refusing to write {target}: it is outside {root}")
    current = root
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            raise UnsafeInputError(f"refusing to write {target}: {current} is a symlink")
    if target.exists() and not target.is_file():
        raise UnsafeInputError(f"refusing to write {target}: it is not a regular file")
    return target


def write_inside(root: Path, target: Path, data: bytes, *, new: bool = False) -> None:
    """Write ``data`` to ``target`` after :func:`check_inside`; parents are created, the file is never followed.

    ``new`` refuses an existing file (an export writes each path once). ``O_NOFOLLOW`` keeps a symlink that
    appeared after the check from being followed.
    """
    target = check_inside(root, target)
    _make_parents(Path(os.path.abspath(root)), target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_EXCL if new else os.O_TRUNC
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        raise UnsafeInputError(f"refusing to write {target}: the tree holds it twice") from None
    except OSError as e:
        raise UnsafeInputError(f"refusing to write {target}: {e.strerror}") from e
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def link_inside(root: Path, link: Path, target: str) -> None:
    """Create the symlink ``link`` -> ``target`` after :func:`check_inside`, if ``target`` stays inside ``root``.

    ``target`` must be relative and, read lexically from the link's directory, lie in ``root`` or below it: the
    link's parents are real directories (checked), so the OS resolves it the same way as long as the path it
    names holds no symlink either, which a caller passing a repository's real path guarantees. An existing file
    is never replaced (``os.symlink`` refuses it).
    """
    link = check_inside(root, link)
    root = Path(os.path.abspath(root))
    lands = Path(os.path.normpath(link.parent / target))
    if not target or "\0" in target or os.path.isabs(target) or not (lands == root or root in lands.parents):
        raise UnsafeInputError(f"refusing to link {link} to {target!r}: it is outside {root}")
    _make_parents(root, link)
    try:
        os.symlink(target, link)
    except FileExistsError:
        raise UnsafeInputError(f"refusing to link {link}: the tree holds it twice") from None


def _make_parents(root: Path, target: Path) -> None:
    """Create ``target``'s parent directories below ``root``, refusing any that exists as a symlink or a file."""
    current = root
    for part in target.relative_to(root).parts[:-1]:
        current = current / part
        try:
            current.mkdir()
        except FileExistsError:
            if current.is_symlink() or not current.is_dir():
                raise UnsafeInputError(f"refusing to write {target}: {current} is not a directory") from None
