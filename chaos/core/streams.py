"""Random streams: one independent ``random.Random`` per purpose, named, so both engines draw the same way.

The simulator draws every service's times, every edge's jitter and the responder's delays from
streams named after them; the live game day draws its responder's delays from the same named
stream, so a playbook's sampled delays are the same live and simulated for one seed, and each
emulator replica draws its service times and errors from streams of its own seed. Standard
library only: the emulator imports it inside its container.
"""

from __future__ import annotations

import random


def stream(seed: int, *names: str) -> random.Random:
    """An independent random stream per purpose, so changing one service leaves the others' draws alone.

    (Common random numbers across variants of an experiment depend on this.) String seeds
    are hashed with SHA-512 by ``random``, so the streams are the same on every run.
    """
    return random.Random("/".join([str(seed), *names]))
