"""The documentation cannot go stale: the configuration reference lists exactly the keys the parser accepts."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest

from gitopsctl import config
from gitopsctl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = tomllib.loads((ROOT / "config.example.toml").read_text())
REFERENCE = (ROOT / "docs" / "configuration.md").read_text()

# each table of the reference, and where that table is in the example
TABLES = {
    "Top level": (),
    "[people.NAME]": ("people", "alice"),
    "[git]": ("git",),
    "[environments.NAME]": ("environments", "prod"),
    "[environments.NAME.approval]": ("environments", "prod", "approval"),
    "[[environments.NAME.freeze]]": ("environments", "prod", "freeze", 0),
    "[apps.NAME]": ("apps", "trade-service"),
    "[apps.NAME.canary]": ("apps", "trade-service", "canary"),
    "[promotion]": ("promotion",),
    "[analysis]": ("analysis",),
    "[analysis.templates.NAME]": ("analysis", "templates", "success-rate"),
    "[prometheus]": ("prometheus",),
    "[slack]": ("slack",),
    "[slack.roles.ENV]": ("slack", "roles", "prod"),
    "[drift]": ("drift",),
    "[serve]": ("serve",),
}


def documented() -> dict[str, set[str]]:
    """Heading -> the keys in the first column of its table."""
    found: dict[str, set[str]] = {}
    heading = None
    for line in REFERENCE.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            found.setdefault(heading, set())
        elif heading and (match := re.match(r"^\| `([a-z_]+)` \|", line)):
            found[heading].add(match.group(1))
    return found


def accepted(path: tuple) -> set[str]:
    """The keys the parser reads in the table at ``path``: it lists them when it meets an unknown key."""
    data = copy.deepcopy(EXAMPLE)
    node = data
    for part in path:
        node = node[part]
    node["zzzz_probe"] = 1
    with pytest.raises(ConfigError) as err:
        config.parse(data)
    for problem in err.value.problems:
        if match := re.search(r"zzzz_probe: unknown key \(known keys: (.*)\)", problem):
            return set(match.group(1).split(", "))
    raise AssertionError(f"the parser did not list its keys: {err.value.problems}")


@pytest.mark.parametrize("heading", sorted(TABLES))
def test_the_configuration_reference_lists_exactly_the_keys_the_parser_accepts(heading):
    keys = documented()
    assert heading in keys, f"docs/configuration.md has no section {heading}"
    assert keys[heading] == accepted(TABLES[heading]), heading


def test_every_document_the_readme_and_docs_link_to_exists():
    texts = {p: p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]}
    for path, text in texts.items():
        for target in re.findall(r"\]\(((?!https?://|#)[^)#]+)", text):
            assert (path.parent / target).exists(), f"{path.name} links to {target}, which does not exist"
