"""Local stand-ins for the world outside the cluster, for the tests, the benchmarks and the demo.

Each plays one real service on 127.0.0.1 as strictly as the real one:
``slack`` (the Web API, signed requests, and ``socket_mode`` for Socket Mode),
``prometheus`` (runs the real Prometheus server) and ``traffic`` (requests split
between stable and canary pods, as metrics). The product reaches them through
URLs like the real services, and never imports them.
"""
