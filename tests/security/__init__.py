"""Issue 13's attacks, each a test: what a Git pusher, a Slack user or a CLI user must not be able to do."""
