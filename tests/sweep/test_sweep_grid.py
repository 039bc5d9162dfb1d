"""Variants: fault templates, --set paths into the topology or the experiment, products and keys."""

from __future__ import annotations

import dataclasses

import pytest

from chaos.errors import InputError
from chaos.model.experiment import Experiment
from chaos.model.faults import Crash, FaultKind, Latency
from chaos.model.load import Constant
from chaos.sweep.grid import (
    FAULT_AXIS,
    FaultMode,
    FaultTemplate,
    TargetSet,
    Variant,
    build,
    default_timing,
    make_plan,
    parse_set,
    split_values,
)


def test_split_values_keeps_commas_inside_brackets_and_quotes() -> None:
    assert split_values("1, {max: 2, budget: 0.1} ,[a, b],'x,y'") == ["1", "{max: 2, budget: 0.1}", "[a, b]", "'x,y'"]


def test_template_main_value_and_named_settings() -> None:
    t = FaultTemplate.parse("latency=500ms,jitter=50ms,at=20s", TargetSet.EDGES)
    assert t.kind is FaultKind.LATENCY
    assert t.params == (("delay", "500ms"), ("jitter", "50ms"), ("at", "20s"))


@pytest.mark.parametrize(("text", "targets", "needle"), [
    ("crsh", TargetSet.SERVICES, "unknown fault kind 'crsh'"),
    ("hang=3", TargetSet.SERVICES, "takes no value"),
    ("load_spike=3", TargetSet.SERVICES, "targets entrypoint"),
    ("crash", TargetSet.EDGES, "not each edge"),
    ("latency=1s,jiter=5ms", TargetSet.SERVICES, "not SETTING=VALUE"),
])
def test_template_errors_name_the_option(text: str, targets: TargetSet, needle: str) -> None:
    with pytest.raises(InputError) as info:
        FaultTemplate.parse(text, targets)
    assert needle in str(info.value)
    assert f"--each-{targets.value}" in str(info.value)


def test_each_service_makes_one_variant_per_service_at_the_default_time(fan: Experiment) -> None:
    variants = make_plan(["crash"], [], []).variants(fan)
    assert [v.target for v in variants] == ["a", "b", "leaf", "iso"]
    experiment = build(fan, variants[2])
    (fault,) = experiment.fault_list
    assert isinstance(fault, Crash) and fault.target == "leaf"
    # no faults in the experiment: a quarter into the measured 55 s, for half of the rest
    assert fault.at == pytest.approx(5 + 55 / 4)
    assert fault.duration == pytest.approx((60 - fault.at) / 2)


def test_default_time_follows_the_experiments_first_fault(fan: Experiment) -> None:
    faulted = dataclasses.replace(fan, faults=(Latency(target="b", at=30.0, duration=7.0, delay=0.1),
                                               Crash(target="a", at=12.0, duration=4.0)))
    assert default_timing(faulted) == (("at", "12.0"), ("duration", "4.0"))


def test_add_mode_keeps_the_experiments_faults(fan: Experiment) -> None:
    own = Latency(target="b", at=30.0, duration=7.0, delay=0.1)
    faulted = dataclasses.replace(fan, faults=(own,))
    added = make_plan(["crash"], [], [], FaultMode.ADD).variants(faulted)[0]
    replaced = make_plan(["crash"], [], []).variants(faulted)[0]
    assert [f.label for f in build(faulted, added).fault_list] == ["latency:b", "crash:a"]
    assert [f.label for f in build(faulted, replaced).fault_list] == ["crash:a"]


def test_each_edge_covers_every_call(fan: Experiment) -> None:
    variants = make_plan([], ["latency=300ms"], []).variants(fan)
    assert [v.target for v in variants] == ["a->leaf", "b->leaf"]
    (fault,) = build(fan, variants[0]).fault_list
    assert isinstance(fault, Latency) and fault.delay == pytest.approx(0.3)


def test_set_paths_reach_the_topology_and_the_experiment(fan: Experiment) -> None:
    plan = make_plan([], [], ["load.rate=50,80", "services.leaf.replicas=3",
                              "entrypoints.big.retries.max=2", "duration=2m"])
    (variant,) = [v for v in plan.variants(fan) if v.settings[0].text == "80"]
    experiment = build(fan, variant)
    assert isinstance(experiment.load, Constant) and experiment.load.rate == 80.0
    assert experiment.topology.service("leaf").replicas == 3
    assert experiment.topology.entrypoint_map["big"].retries.max == 2
    assert experiment.duration == 120.0
    assert fan.topology.service("leaf").replicas == 2  # the base is untouched


def test_call_settings_are_picked_by_callee(fan: Experiment) -> None:
    (variant,) = make_plan([], [], ["services.a.calls.leaf.timeout=80ms"]).variants(fan)
    assert build(fan, variant).topology.call("a", "leaf").timeout == pytest.approx(0.08)


@pytest.mark.parametrize(("text", "needle"), [
    ("services.leaf.replicas=two", "expected an integer"),
    ("services.lief.replicas=2", "did you mean 'leaf'"),
    ("load.rat=5", "did you mean 'rate'"),
    ("services.leaf.replicas=0", "out of range"),
    ("seed=1,2", "--seeds"),
])
def test_bad_settings_are_reported_like_file_errors(fan: Experiment, text: str, needle: str) -> None:
    with pytest.raises(InputError) as info:
        for variant in make_plan([], [], [text]).variants(fan):
            build(fan, variant)
    assert needle in str(info.value)


def test_a_checked_whole_refuses_a_setting_that_breaks_another_rule(fan: Experiment) -> None:
    (variant,) = make_plan([], [], ["warmup=2m"]).variants(fan)
    with pytest.raises(InputError, match="warm-up"):
        build(fan, variant)


def test_set_needs_path_and_values() -> None:
    with pytest.raises(InputError, match="PATH=V1,V2"):
        parse_set("load.rate")
    with pytest.raises(InputError, match="empty value"):
        parse_set("load.rate=1,,2")
    with pytest.raises(InputError, match="set twice"):
        make_plan([], [], ["load.rate=1", "load.rate=2"])


def test_variants_are_the_product_of_the_axes(fan: Experiment) -> None:
    plan = make_plan(["crash"], [], ["load.rate=50,80,120", "services.leaf.workers=4,8"])
    variants = plan.variants(fan)
    assert len(variants) == 4 * 3 * 2
    assert len({v.key for v in variants}) == len(variants)
    axes = plan.axes(fan)
    assert [a.name for a in axes] == [FAULT_AXIS, "load.rate", "services.leaf.workers"]
    assert axes[1].values == ("50", "80", "120")
    assert variants[0].coordinates() == {FAULT_AXIS: "crash:a", "load.rate": "50", "services.leaf.workers": "4"}


def test_keys_are_stable_readable_and_distinguish_parameters(fan: Experiment) -> None:
    one = make_plan([], ["latency=1s"], []).variants(fan)[0]
    two = make_plan([], ["latency=2s"], []).variants(fan)[0]
    assert one.key == make_plan([], ["latency=1s"], []).variants(fan)[0].key
    assert one.key != two.key
    assert one.key.startswith("latency_delay=1s_a-_leaf-")
    assert one.fault_label == "latency(delay=1s):a->leaf"
    assert "/" not in Variant(settings=parse_set("services.a.calls.leaf.timeout=1s")).key


def test_each_edge_on_a_topology_without_calls_is_refused(fan: Experiment) -> None:
    lonely = dataclasses.replace(fan, topology=dataclasses.replace(
        fan.topology, services=tuple(dataclasses.replace(s, calls=()) for s in fan.topology.services)))
    with pytest.raises(InputError, match="no edge to fault"):
        make_plan([], ["partition"], []).variants(lonely)
