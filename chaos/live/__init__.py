"""Live runs: drive a real stack (Docker Compose, Toxiproxy, load) instead of the simulator."""
