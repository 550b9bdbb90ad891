"""Running kustomize on an export: the command, an environment that can fetch and run nothing, bounded output.

kustomize (or ``kubectl kustomize``) is a program reading hostile input: it
gets one wall-clock timeout, byte limits on both streams (drained together),
its process group killed on any refusal, and its error shown whole with
repository paths instead of the scratch directory's.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ManifestError

if TYPE_CHECKING:
    from .repo import GitRepository

MAX_STDERR_BYTES = 1024 * 1024
# address space of one renderer: Go reserves ~700 MB at start, leaving a few hundred MB to work in
RENDER_ADDRESS_SPACE = 1 << 30
MAX_ERROR_LINES = 30  # of kustomize's message shown in an error
MAX_ERROR_CHARS = 4000
# kubectl's (klog's) report of a failed command: err="one line" or err=< then tab-indented lines and " >"
_KLOG_FAILURE = re.compile(r'^[EF]\d{4} [\d:.]+\s+\d+ \S+:\d+\] "command failed" err=(.*)$')
_GO_FRAME = re.compile(r"^\s*\S+\.go:\d+( \+0x[0-9a-f]+)?$")  # a stack frame's file:line


def kustomize_command() -> list[str]:
    """kustomize or ``kubectl kustomize``, with every flag that could run a program or load from outside off."""
    flags = ["--load-restrictor", "LoadRestrictionsRootOnly", "--enable-alpha-plugins=false", "--enable-helm=false"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build", *flags]
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize", *flags]
    raise ManifestError(
        "this app has a kustomization.yaml but neither kustomize nor kubectl is installed; install one of them"
    )


def kustomize_env(scratch: Path) -> dict[str, str]:
    """An environment built from nothing: no git on PATH, no protocol git may use, no config or plugins.

    Even if a remote base got past the allow-list, kustomize would find no ``git`` to run, and a git found
    anyway would refuse every protocol (``GIT_ALLOW_PROTOCOL`` empty) and read no user or system config; a file
    kustomize would download goes to a proxy on a loopback port nothing listens on, and fails there.
    """
    closed = "http://127.0.0.1:9"
    return {
        "HTTPS_PROXY": closed,
        "HTTP_PROXY": closed,
        "NO_PROXY": "",
        "PATH": str(scratch / "bin"),
        "HOME": str(scratch / "home"),
        "XDG_CONFIG_HOME": str(scratch / "home"),
        "KUSTOMIZE_PLUGIN_HOME": str(scratch / "plugins"),
        "GIT_ALLOW_PROTOCOL": "",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
    }


def run_bounded(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    max_bytes: int,
    timeout: float,
    path: str,
    tool: str = "kustomize",
) -> tuple[int, str, str]:
    """Run ``tool`` (kustomize or helm) with one wall-clock ``timeout`` over the whole run, draining stdout and
    stderr together.

    Reading one stream to its end first deadlocks once the child fills the other pipe (a kustomization with
    hundreds of deprecation warnings does); a selector reads whichever is ready. Output over ``max_bytes`` or
    warnings over ``MAX_STDERR_BYTES`` stop the run; the child's whole process group is killed on any refusal.
    Returns the exit code, stdout and stderr.
    """
    deadline = time.monotonic() + timeout
    if prlimit := shutil.which("prlimit"):  # util-linux, on every Debian; a hostile chart cannot OOM serve's pod
        command = [prlimit, f"--as={RENDER_ADDRESS_SPACE}", "--", *command]
    limits = {"stdout": max_bytes, "stderr": MAX_STDERR_BYTES}
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    sizes = {"stdout": 0, "stderr": 0}
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
            selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ManifestError(f"{tool} did not finish rendering {path} within {timeout:g} s")
                for key, _ in selector.select(remaining):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    sizes[key.data] += len(chunk)
                    if sizes[key.data] > limits[key.data]:
                        raise ManifestError(_over_limit(key.data, path, limits[key.data], tool))
                    chunks[key.data].append(chunk)
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
        except subprocess.TimeoutExpired as e:
            raise ManifestError(f"{tool} did not finish rendering {path} within {timeout:g} s") from e
    finally:
        if proc.returncode is None:
            _kill_group(proc)
        proc.stdout.close()
        proc.stderr.close()
    stderr = b"".join(chunks["stderr"]).decode("utf-8", "replace")
    return proc.returncode, decode(b"".join(chunks["stdout"]), f"{path} ({tool} output)"), stderr


def kustomize_message(stderr: str, returncode: int, root: Path) -> str:
    """kustomize's whole error, as a person should read it: the error itself (not its warnings, nor kubectl's log
    prefix, nor a Go stack), scratch paths as repository paths, bounded in lines and characters."""
    lines = stderr.splitlines()
    found = next(((i, m) for i, line in enumerate(lines) if (m := _KLOG_FAILURE.match(line))), None)
    if found is not None:
        at, match = found
        value = match.group(1)
        if value == "<":  # klog's multi-line value: tab-indented lines up to " >"
            body = [line.removeprefix("\t") for line in itertools.takewhile(lambda x: x != " >", lines[at + 1 :])]
        else:
            body = _go_quoted(value).splitlines()
    else:
        start = next((i for i, line in enumerate(lines) if line.startswith(("Error:", "panic:"))), None)
        body = lines[start:] if start is not None else [x for x in lines if not _is_warning(x)]
    body = list(itertools.takewhile(lambda x: not re.match(r"^goroutine \d+ \[", x), body))
    body = [line.rstrip() for line in body if not _GO_FRAME.match(line)]
    text = "\n".join(body).strip()
    for scratch in dict.fromkeys((str(root), os.path.realpath(root))):
        text = text.replace(scratch + "/", "").replace(scratch, ".")
    text = text.replace(str(root.parent), "(gitopsctl's scratch directory)")
    if not text:
        return f"it exited with code {returncode} and printed no error"
    kept = text.splitlines()[:MAX_ERROR_LINES]
    shown = "\n".join(kept)[:MAX_ERROR_CHARS]
    return shown if shown == text else shown + " [...]"


def _go_quoted(value: str) -> str:
    """A Go ``%q`` string (klog quotes single-line values so) as text; JSON escapes are Go's common ones."""
    try:
        text = json.loads(value)
    except ValueError:
        return value.strip('"')
    return text if isinstance(text, str) else value


def _is_warning(line: str) -> bool:
    return line.lstrip("# ").lower().startswith("warning")


def _over_limit(stream: str, path: str, limit: int, tool: str) -> str:
    if stream == "stdout":
        return f"{path} renders to more than the {limit / 1e6:.0f} MB limit (git.max_render_mb); refusing it"
    return f"{tool} printed more than {limit / 1e6:.0f} MB of warnings rendering {path}; refusing it"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill kustomize and anything it started (its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path} is not UTF-8 text") from e


_NOT_FOUND = re.compile(r"(?:lstat|stat|open) ([^\s:']+): no such file or directory")


def unexported(repo: GitRepository, sha: str, message: str, dirs: tuple[str, ...]) -> str:
    """A sentence for a path kustomize could not find that is in the repository but was not exported."""
    for missing in dict.fromkeys(_NOT_FOUND.findall(message)):
        name = missing.rstrip(".,;")
        if name.startswith(("/", "..")) or repo.entry(sha, "" if name == "." else name) is None:
            continue
        exported = ", ".join(d or "." for d in dirs)
        return (
            f"\n{name} is in the repository, but gitopsctl exported only {exported}: the directories and "
            "files its kustomizations name in the fields gitopsctl follows (resources, bases, components, "
            "generators, transformers, validators, patches, replacements, configurations, crds, openapi and "
            "the generators' files and envs); a path named anywhere else, such as inside a plugin's "
            "configuration, is not supported"
        )
    return ""
