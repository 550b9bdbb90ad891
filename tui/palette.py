"""The command palette (ctrl+p): every action and screen of the console, by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.theme import Theme

# (title, action, help); the action runs on the cell under the cursor
COMMANDS = (
    ("Open detail", "open", "the rollout's steps, analysis, plots, events and sync history"),
    ("Show diff", "diff", "Git against live, per object"),
    ("Show history", "history", "deploys, promotions and rollbacks from Git"),
    ("Filter the fleet", "filter", "by name or state"),
    ("Sort by attention", "sort", "what needs attention first, or by name"),
    ("Refresh now", "refresh", "read the fleet again"),
    ("Sync", "sync", "make the app match Git"),
    ("Deploy a version", "deploy", "a Git commit, then a sync or a canary"),
    ("Approve", "approve", "the pending deploy"),
    ("Reject", "reject", "the pending deploy"),
    ("Promote", "promote", "past the current pause or step"),
    ("Promote fully", "promote_full", "skip the remaining steps"),
    ("Pause the rollout", "pause", "hold it where it is"),
    ("Resume the rollout", "resume", "carry on"),
    ("Abort the rollout", "abort", "traffic back to stable, the deploy reverted in Git"),
    ("Roll back", "rollback", "to the last Healthy version"),
    ("Keep in Git", "keep", "commit the drifted live values to Git"),
    ("Freeze the environment", "freeze", "no deploys until it ends"),
    ("Unfreeze the environment", "unfreeze", "lift a manual freeze"),
    ("Keys", "help", "every key of this screen"),
)

HIGH_CONTRAST = Theme(
    name="high-contrast",
    primary="#ffff00",
    secondary="#00ffff",
    accent="#ff00ff",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1a1a1a",
    success="#00ff00",
    warning="#ffff00",
    error="#ff4040",
    dark=True,
)


class ConsoleCommands(Provider):
    def _available(self):
        app = self.app
        for title, action, help_text in COMMANDS:
            if app.check_action(action, ()) is not False:
                yield title, action, help_text

    async def discover(self) -> Hits:
        for title, action, help_text in self._available():
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._available():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action), help=help_text)
