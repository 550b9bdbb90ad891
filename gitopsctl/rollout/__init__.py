"""Canary rollouts: where the canary weight is decided and carried out.

``record`` is the rollout's state, kept in the cluster; ``decide`` the pure
``next_action(record, steps, observed, now)``; ``act`` reads what a decision
needs and carries it out; ``controller`` is the public face (start, reconcile,
promote, pause, resume, abort) and ``loop`` reconciles every active rollout;
``traffic`` holds the routers behind one Protocol and the one registry of them.
"""
