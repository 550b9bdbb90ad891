"""The Slack front end (slack-bolt): thin listeners that parse, check roles, call the Engine and render."""
