"""chaoslab: rehearse cascading failures offline (SimPy) and live (Docker, Toxiproxy, Locust).

Importing this package imports nothing beyond the standard library, so the
service emulator can run inside a bare Python container from these sources.
"""

__version__ = "0.1.0"
