"""The names the load generator's ``/metrics`` writes (``chaos.live.load.metrics``), for the host side to read.

Kept here, with the emulator's exposition, because both the load process and the stack's Prometheus
configuration (``chaos.live.stack.mapped_scrape``, which renames these series) need them, and the stack
may not import the load generator's package. Standard library only, as everything in this package.
"""

from __future__ import annotations

REQUESTS = "chaoslab_load_requests_total"  # counter: entry requests started, by entrypoint and request kind
RESPONSES = "chaoslab_load_responses_total"  # counter: entry requests ended, by entrypoint, request kind and outcome
DURATION = "chaoslab_load_request_duration_seconds"  # histogram: entry requests ended, by entrypoint and outcome
ENTRY_REQUESTS = "chaoslab_load_entry_requests_total"  # counter: entry requests started, by entrypoint
ENTRY_RESPONSES = "chaoslab_load_entry_responses_total"  # counter: entry requests ended, by entrypoint and outcome
ENTRY_CLASSES = "chaoslab_load_entry_responses_by_class_total"  # counter: the same by HAProxy's status class
CLIENT_CLASSES = "chaoslab_client_responses_by_class_total"  # counter: attempts ended, by target and status class
OK = "ok"  # the outcome of a success
CLIENT_ERROR = "client_error"  # the outcome of a 4xx or of our own machine failing: not the system's failure
