"""``gitopsctl serve`` without Slack: leader election (``leader.py``), the leader's jobs (``scheduler.py``) and the
process that runs them with the watches and /metrics (``process.py``). The bot plugs in through a Notifier."""
