"""The bundled shop's gateway routes browse requests over the frontend's pages and keeps the shop's load.

The gateway picks one of the frontend's operations per browse request, product, search or cart by
weights 5, 2 and 3; each page makes its own calls. The pages were written so that, per browse
request, the catalog is called once, recommendation 0.7 times and cart 0.5 times (5 x 0.4 + 3 x 1 of
10 for cart), the load the shop had when the frontend flipped a coin per call. Checked on a short,
healthy simulation against the binomial: four standard errors of the count.
"""

from __future__ import annotations

import math
from pathlib import Path

from chaos.model.experiment import Experiment
from chaos.model.files import load_topology
from chaos.model.load import Constant
from chaos.model.scope import Scope
from chaos.sim.simulation import simulate

SHOP = Path(__file__).resolve().parents[2] / "topologies" / "shop.yaml"


def within(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 4 * math.sqrt(n * p * (1 - p)) + 1


def test_the_gateway_splits_browse_requests_by_page_and_the_pages_keep_the_load() -> None:
    exp = Experiment(name="shop-router", topology=load_topology(SHOP), duration=20, warmup=0,
                     load=Constant(rate=300), seed=3)
    r = simulate(exp)
    n = r.totals[Scope.service("frontend")].requests  # healthy: no retries, one frontend request per browse
    assert n == r.totals[Scope.service("gateway")].requests and n > 4000
    pages = {op: r.totals[Scope.operation("frontend", op)].requests for op in ("product", "search", "cart")}
    assert sum(pages.values()) == n
    for op, share in (("product", 0.5), ("search", 0.2), ("cart", 0.3)):
        assert within(pages[op], n, share), (op, pages, n)
    # recommendation only on product and search pages: exactly their count; the catalog on every page
    assert r.totals[Scope.service("recommendation")].requests == pages["product"] + pages["search"]
    assert within(pages["product"] + pages["search"], n, 0.7)
    cart_from_browse = r.totals[Scope.service("cart")].requests - r.totals[Scope.service("checkout")].requests
    assert cart_from_browse - pages["cart"] >= 0 and within(cart_from_browse - pages["cart"], pages["product"], 0.4)
    assert within(cart_from_browse, n, 0.5)
