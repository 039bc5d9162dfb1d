"""The behaviour core: what the simulator, the model and the live emulator all do, written once.

Standard library only, and nothing from the rest of ``chaos``: the emulator's container
runs these sources on a bare Python, and the simulator's kernel, the model's types and
the emulator import the same functions, so the two engines cannot drift apart (they did:
the simulator refused a retry that the emulator sent). ``tests/test_layering.py`` checks
the imports; ``tests/core`` runs the engines' callers against the core on the same events.

    choices.py      the closed choices (jitter, load balancing, call mode, queue discipline,
                    distribution kind) and the stage grouping of calls
    retry.py        backoff and jitter; the retry budget, counted exactly in billionths of a
                    token (the one rounding rule: ten deposits of 0.1 earn one retry)
    admission.py    the admission limit's token bucket
    breaker.py      the circuit breaker
    servicetime.py  duration distributions: lognormal parameters from a median and a tail,
                    moments, quantiles, samplers
    coldstart.py    the decaying factor on service times after a cold start
    streams.py      named random streams (``stream(seed, *names)``)
    latency.py      latency histogram bounds, thresholds among them, the bucket rule
    errors.py       every error chaoslab raises, in one hierarchy

Each is pure logic: where time matters the caller passes it (simulated or wall), and
randomness comes in as a stream or a ``random()`` callable.

The simulator's hot path keeps one inlined copy, tested against the core on the same
stream (``tests/core/test_core_shared.py``): the exponential service-time draw, made once
per span. Everything else the kernel calls here.
"""
