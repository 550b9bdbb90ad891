"""One process at a time in a Git directory gitopsctl keeps (the writer's clone, the read cache).

Several gitopsctl processes on one machine share the cache directory (the CLI beside the console or serve, two
serve replicas on one host): a thread lock guards one process, an flock(2) on a file beside the directory
guards the others. Without it one process's reset of the writer's clone could drop another's commit before
its push, and that commit's SHA would be recorded though Git never had it.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Held by one process at a time (released when the process dies, however it dies)."""
    lock_path = directory.parent / f".{directory.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
