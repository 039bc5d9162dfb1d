"""Every fault kind, verify condition, alert value and objective is printed as words with a unit
after every number: no ``ColdCache(factor=4.0, decay=30.0)``, no ``latency_p99 < 0.1`` for 100 ms."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chaos.codec import build, encode
from chaos.document import Fault
from chaos.model.alerts import AlertMetric, FiringMetric, format_value
from chaos.model.faults import (
    FAULT_CLASSES,
    WINDOW_KEYS,
    ColdCache,
    Crash,
    ErrorsParams,
    FaultKind,
    Latency,
    describe_params,
)
from chaos.model.parsing import DURATION, is_model, model_fields
from chaos.model.playbook import Condition
from chaos.model.quantities import FACTOR, RATE, RATIO, Unit, duration, unit_of
from chaos.model.scope import Scope
from chaos.model.slos import Objective, ObjectiveKind
from chaos.report.summary import fault_line

REPR = re.compile(r"\b[A-Z][A-Za-z]+\(")
UNITS = r"ms\b|s\b|%|×|replicas?\b|requests?\b|workers?\b|[a-z]+/s\b|the sustainable"
NUMBER_WITHOUT_UNIT = re.compile(rf"(?<![\w.,])\d[\d,]*(?:\.\d+)?(?!\d|,\d|\.\d|\s?(?:{UNITS}))")

# str: a fault's operation (latency and errors may scope to one)
SAMPLE: dict[Any, Any] = {DURATION: 0.25, RATIO: 0.05, FACTOR: 3.0, RATE: 150.0, int: 2, str: "write"}


def assert_words_with_units(text: str) -> None:
    assert REPR.search(text) is None, text
    bare = NUMBER_WITHOUT_UNIT.findall(text)
    assert not bare, f"numbers without a unit {bare} in: {text}"


def sample_fault(cls: type) -> Any:
    """A fault of class ``cls`` with every parameter set: the kind's own fields, nested models at their defaults."""
    values: dict[str, Any] = {}
    for f in model_fields(cls):
        if f.key in WINDOW_KEYS:
            continue
        unit = unit_of(f.type)
        values[f.name] = unit() if is_model(unit) else SAMPLE[unit]
    return cls(target="db", at=90.0, duration=30.0, **values)


def test_every_number_a_fault_can_have_has_a_unit_type() -> None:
    """The formatter is driven by the field types: a float field without a unit marker has no unit to print."""
    models = [*FAULT_CLASSES, ColdCache]
    for cls in models:
        for f in model_fields(cls):
            unit = unit_of(f.type)
            if unit is float:
                pytest.fail(f"{cls.__name__}.{f.name} is a bare float: give it Seconds, Ratio, Factor or Rate")
            assert unit in (DURATION, RATIO, FACTOR, RATE, int, str) or is_model(unit) or isinstance(unit, Unit), \
                (cls.__name__, f.name, unit)


@pytest.mark.parametrize("cls", FAULT_CLASSES, ids=lambda c: c.TAG)
def test_every_fault_kind_renders_as_words_with_units(cls: type) -> None:
    fault = sample_fault(cls)
    params = fault.params()
    stored = json.loads(json.dumps(encode(params)))  # as result.json holds them: data, never a repr
    assert set(stored) == {f.key for f in model_fields(cls)} - WINDOW_KEYS
    assert build(type(params), stored, "params", "result.json") == params  # and read back the same
    text = describe_params(params)
    assert_words_with_units(text)
    line = fault_line(Fault(label=f"{cls.TAG}:db", kind=FaultKind(cls.TAG), target="db", start_s=90.0, end_s=120.0,
                            params=params))
    assert_words_with_units(line)
    assert line.startswith(f"{cls.TAG} on db from 90 s to 120 s")


def test_the_nested_cold_start_and_durations_read_as_a_person_writes_them() -> None:
    crash = Crash(target="catalog", replicas=1, cold_start=ColdCache(factor=4.0, decay=30.0))
    assert describe_params(crash.params()) == "1 replica, cold start (factor 4×, decay 30 s)"
    latency = Latency(target="db", delay=2.0, jitter=0.5)
    assert describe_params(latency.params()) == "delay 2 s, jitter 500 ms"


def test_params_an_engine_adds_are_shown_as_they_are() -> None:
    """A live run records its driver beside the fault's settings; those print as given, after them."""
    assert describe_params(ErrorsParams(ratio=0.1, driver="toxiproxy")) == "ratio 10%, driver toxiproxy"


def condition(metric: AlertMetric, **bound: float) -> Condition:
    return Condition(service="db", entrypoint=None, metric=metric, window=10.0, for_=20.0, within=300.0,
                     **{"below": None, "above": None, **bound})


@pytest.mark.parametrize("metric", list(AlertMetric), ids=lambda m: m.value)
@pytest.mark.parametrize("side", ["below", "above"])
def test_every_verify_condition_renders_with_units(metric: AlertMetric, side: str) -> None:
    value = 0.1 if metric is AlertMetric.ERROR_RATIO or metric.percentile else 12.0
    text = condition(metric, **{side: value}).describe()
    assert_words_with_units(text)
    assert text.startswith(f"{metric.label} of service:db {'<' if side == 'below' else '>'} ")
    assert text.endswith(" for 20 s")


def test_a_latency_condition_says_100_ms_not_0_1() -> None:
    assert condition(AlertMetric.LATENCY_P99, below=0.1).describe() == "p99 latency of service:db < 100 ms for 20 s"
    assert condition(AlertMetric.ERROR_RATIO, below=0.01).describe() == "error ratio of service:db < 1% for 20 s"
    assert condition(AlertMetric.REQUEST_RATE, above=150.0).describe() == \
        "request rate of service:db > 150 requests/s for 20 s"


@pytest.mark.parametrize("metric", [m for m in FiringMetric if m is not FiringMetric.PROMQL], ids=lambda m: m.value)
def test_alert_values_carry_their_metrics_unit(metric: FiringMetric) -> None:
    assert_words_with_units(format_value(metric, 0.25))
    assert_words_with_units(format_value(metric, 13.77))


def test_a_firing_names_every_threshold_metric_by_the_rules_own_value() -> None:
    assert [FiringMetric.of(m).alert_metric for m in AlertMetric] == list(AlertMetric)
    assert {m.value for m in FiringMetric} - {m.value for m in AlertMetric} == {"burn_rate", "promql"}
    assert FiringMetric.BURN_RATE.alert_metric is None and FiringMetric.PROMQL.alert_metric is None
    assert format_value(FiringMetric.PROMQL, 0.25) == "0.25" and format_value(None, 3.0) == "3"


def test_objective_names_state_their_targets_with_units() -> None:
    web = Scope.entrypoint("web")
    assert Objective("s", web, ObjectiveKind.ERROR_RATIO, 0.02, 30.0).name == "entrypoint:web error ratio <= 2%"
    assert Objective("s", web, ObjectiveKind.LATENCY, 0.01, 30.0, 0.8, 99.0).name == "entrypoint:web p99 <= 800 ms"
    assert Objective("s", web, ObjectiveKind.LATENCY, 0.1, 30.0, 0.009000000000000001, 90.0).name == \
        "entrypoint:web p90 <= 9 ms"


@pytest.mark.parametrize(("seconds", "text"), [(0.0, "0 s"), (0.0005, "0.5 ms"), (0.25, "250 ms"), (1.0, "1 s"),
                                               (1.5, "1.5 s"), (90.0, "90 s")])
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text
