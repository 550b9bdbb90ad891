"""Finding and reading the configuration file, then handing it to ``parse``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from ..errors import ConfigError
from .model import DEFAULT_PATH, Config
from .parse import parse


def resolve_path(explicit: str | None) -> Path:
    """``--config`` beats ``$GITOPSCTL_CONFIG`` beats ``./gitopsctl.toml``."""
    if explicit:
        return Path(explicit)
    if os.environ.get("GITOPSCTL_CONFIG"):
        return Path(os.environ["GITOPSCTL_CONFIG"])
    return Path(DEFAULT_PATH)


def load(explicit: str | None = None) -> Config:
    """Read and validate the file; relative paths inside it are relative to its folder."""
    path = resolve_path(explicit)
    if not path.is_file():
        raise ConfigError(
            [
                f"no configuration at {path}: pass --config PATH, set GITOPSCTL_CONFIG, or create ./{DEFAULT_PATH} "
                "(config.example.toml is a complete example)"
            ]
        )
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"not valid TOML: {e}"], str(path)) from e
    except OSError as e:
        raise ConfigError([f"cannot read {path}: {e.strerror}"], str(path)) from e
    return parse(data, source=str(path), base_dir=path.parent.resolve())
