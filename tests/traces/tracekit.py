"""What the trace tests share: the fixtures' folder and the SDK-traced shop's record.

Its own module (not conftest.py) so test modules import it by a name no other test folder uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
