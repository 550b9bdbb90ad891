"""``gitopsctl demo``: the whole product on one machine, for a newcomer.

It sits above the front ends and imports them directly: ``world`` starts the
sandbox cluster, a GitOps repository (``seed``), the traffic simulator and
Prometheus, and runs the release steps; ``console`` is the TUI with the demo's
guide; ``slack`` runs the bot over the demo's world; ``command`` registers
``gitopsctl demo``. ``seed`` is also the tests' and benchmarks' sample repository.
"""
