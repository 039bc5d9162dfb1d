"""The service emulator of live mode: one process per replica, standard library only (asyncio).

It behaves as a service of the simulator does (``chaos.sim.kernel``): a worker pool
and a bounded queue, sampled service times, calls to other services with timeouts,
retries, a retry budget, a circuit breaker and fallbacks, and faults set through its
admin routes. Each call is a new HTTP connection, so Toxiproxy acts per call (the HTTP
layer, ``chaos.live.in_container.http``, is shared with the Toxiproxy server). What it
decides as the simulator does is the behaviour core's, ``chaos.core``: backoff and the
retry budget, the admission bucket, the circuit breaker, service-time draws, cold starts.

    pool.py         worker pool and bounded FIFO/LIFO queue (pure admission logic + its asyncio form)
    servicetime.py  service-time sampling from the stack spec (the core's draws), and the timer's sleep
    breaker.py      the core's circuit breaker, configured from the stack spec
    balancer.py     caller-side load balancing with passive health checks (pure)
    calls.py        one outgoing call: attempts, retries, breaker, fallback, cancellation
    faults.py       errors, slowdown, hang, cold start
    metrics.py      cumulative counters and latency histograms (and their JSON, /admin/metrics)
    prometheus.py   the same counters as Prometheus text at /metrics, named as OpenTelemetry's HTTP metrics
    admin.py        /health, /metrics (Prometheus text), /admin/metrics (JSON), /admin/* routes
    app.py          the replica: a /work request's life, the server, the views
    main.py         the command line, signals
    threaded.py     emulators on an event loop in a background thread (tests, benchmarks)

Importing this package imports nothing else.
"""
