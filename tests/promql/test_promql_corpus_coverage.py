"""The differential corpus covers every construct the evaluator supports.

A construct the corpus never uses is one whose agreement with Prometheus is unproven, so
adding a function, aggregation or operator to the evaluator without a corpus case fails here.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml
from promtool_harness import CORPUS, load_case

from chaos.promql.syntax import (
    FUNCTIONS,
    AggOp,
    Aggregate,
    Binary,
    BinOp,
    Call,
    Card,
    Expr,
    MatchOp,
    MatrixSelector,
    Negation,
    VectorSelector,
    parse,
)


def _walk(node: Expr) -> Iterator[Expr]:
    yield node
    children: tuple[Expr, ...] = ()
    if isinstance(node, Call):
        children = node.args
    elif isinstance(node, Aggregate):
        children = (node.expr,) + ((node.param,) if node.param is not None else ())
    elif isinstance(node, Binary):
        children = (node.lhs, node.rhs)
    elif isinstance(node, Negation):
        children = (node.expr,)
    elif isinstance(node, MatrixSelector):
        children = (node.selector,)
    for child in children:
        yield from _walk(child)


def _corpus_nodes() -> list[Expr]:
    nodes: list[Expr] = []
    for directory in sorted(p for p in CORPUS.iterdir() if (p / "series.yaml").is_file()):
        case = load_case(directory)
        for group in case.rules.groups:
            for rule in group.rules:
                nodes.extend(_walk(rule.expr))
        for item in yaml.safe_load((directory / "series.yaml").read_text()).get("exprs", []):
            nodes.extend(_walk(parse(item["expr"])))
    return nodes


def test_every_supported_construct_is_in_the_corpus() -> None:
    nodes = _corpus_nodes()
    calls = {n.func for n in nodes if isinstance(n, Call)}
    assert set(FUNCTIONS) - calls == set()
    aggregations = {(n.op, bool(n.grouping), n.without) for n in nodes if isinstance(n, Aggregate)}
    assert {op for op, _, _ in aggregations} == set(AggOp)
    assert {(by, without) for _, by, without in aggregations} >= {(False, False), (True, False), (True, True)}
    binaries = [n for n in nodes if isinstance(n, Binary)]
    assert {n.op for n in binaries} == set(BinOp)
    assert {n.card for n in binaries} == set(Card)
    assert any(n.on and n.matching for n in binaries) and any(not n.on and n.matching for n in binaries)
    assert any(n.on and not n.matching for n in binaries)  # on (): match everything
    assert any(n.include for n in binaries)  # group_left (labels)
    assert any(n.return_bool for n in binaries if n.lhs.type is n.rhs.type)  # scalar and vector bool
    selectors = [n for n in nodes if isinstance(n, VectorSelector)]
    assert {m.op for s in selectors for m in s.matchers} == set(MatchOp)
    assert any(s.offset for s in selectors)
    assert any(s.name is None for s in selectors)
    assert any(isinstance(n, Negation) for n in nodes)
