"""What the trace tests share: the fixtures' folder and the SDK-traced shop's record.

Its own module (not conftest.py) so test modules import it by a name no other test folder uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chaos.model.topology import Topology
from chaos.traces.observed import ObservedModel

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class ShopTraces:
    otlp: Path
    zipkin: Path
    spans: int
    orphans: int                 # spans whose parent the SDK did not export (counted from the SDK's spans)
    browse: int
    buy: int
    model: ObservedModel         # read from the OTLP file
    zipkin_model: ObservedModel  # read from the Zipkin file


@dataclass(frozen=True)
class Derived:
    """``chaoslab topology from-traces traces.jsonl --out topology.yaml`` run on the SDK-traced plain shop."""

    where: Path                  # the directory it ran in
    traces: Path
    model: ObservedModel
    code: int
    out: str                     # what it printed
    topology: Topology           # what it wrote, parsed
    text: str                    # what it wrote
