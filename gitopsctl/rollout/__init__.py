"""Canary rollouts: a record in the cluster, a level-triggered reconcile, traffic routers behind one Protocol."""
