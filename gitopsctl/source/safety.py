"""Checks on input that reaches Git: repository URLs and revisions.

A URL or ref that starts with ``-`` would be read by git as an option, and
``ext::`` URLs run commands; both are refused before git is called. GitPython
refuses unsafe protocols and options too; this is the first line, with a clear
sentence for the person who typed it.
"""

from __future__ import annotations

import re

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
