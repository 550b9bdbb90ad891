"""How a fleet cell looks: pure functions from engine data to Rich text.

Colour always comes with text (a word or a symbol), so nothing depends on
seeing colour alone.
"""

from __future__ import annotations

from rich.text import Text

from gitopsctl.engine import Cell

STATE_STYLE = {
    "Synced": "green",
    "OutOfSync": "yellow",
    "Healthy": "green",
    "Progressing": "cyan",
    "Degraded": "bold red",
    "Missing": "red",
    "Unknown": "dim",
    "Paused": "magenta",
    "Pending": "cyan",  # a canary running its pre-rollout steps
    "Promoted": "green",
    "Aborted": "bold red",
}


def weight_bar(percent: int, width: int = 10) -> str:
    percent = max(0, min(100, percent))
    filled = round(percent * width / 100)
    return "█" * filled + "░" * (width - filled)


def badges(cell: Cell) -> list[tuple[str, str]]:
    """(text, style) of what needs attention: incident mode, locked, frozen, pending approval, Git commits not delivered (GIT +n),
    held by the leader, live changes made outside Git (DRIFT n). OutOfSync and drift are two facts, two badges."""
    found = []
    if cell.incident:  # first: in an incident, the environment belongs to its responders
        found.append((f"INCIDENT {cell.incident}", "bold white on red"))
    if cell.locked_by:
        found.append(("LOCKED", "bold yellow"))
    if cell.frozen:
        found.append(("FROZEN", "bold blue"))
    if cell.pending is not None:
        found.append(("APPROVAL", "bold magenta"))
    if cell.commits:
        found.append((f"GIT +{len(cell.commits)}", "bold cyan"))
    if cell.held:
        found.append(("HELD", "bold red"))
    if cell.drifted:  # a running canary scaling stable is not counted (fleet.py); a hand change made meanwhile is
        found.append((f"DRIFT {cell.drifted}", "bold yellow"))
    return found


def render_cell(cell: Cell | None) -> Text:
    """The fleet matrix cell: version, sync and health, a rollout's phase and weight, and badges."""
    if cell is None:
        return Text("—", style="dim")
    text = Text()
    text.append(cell.version or "not deployed", style="bold" if cell.version else "dim")
    text.append("\n")
    text.append(cell.sync, style=STATE_STYLE.get(cell.sync, ""))
    text.append(" · ")
    text.append(cell.health, style=STATE_STYLE.get(cell.health, ""))
    if cell.rolling and cell.rollout is not None:
        r = cell.rollout
        text.append("\n")
        text.append(r.phase, style=STATE_STYLE.get(r.phase, ""))
        text.append(f" → {r.canary_version}\n")  # two short lines: the matrix fits 80 columns
        text.append(weight_bar(r.weight, 8), style="cyan")
        text.append(f" {r.weight}%")
    for label, style in badges(cell):
        text.append("\n")
        text.append(f"[{label}]", style=style)
    return text


def state_words(cell: Cell) -> str:
    """Every state of a cell as words, for the filter: `/degraded`, `/locked`, `/paused` all work."""
    words = [cell.app, cell.env, cell.sync, cell.health, cell.version or ""]
    if cell.rollout is not None and cell.rolling:
        words += [cell.rollout.phase, "rollout"]
    words += [label.split()[0] for label, _ in badges(cell)]
    return " ".join(words).lower()
