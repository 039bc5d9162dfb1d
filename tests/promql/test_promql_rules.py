"""The alerting state machine and recording rules, against timelines worked out by hand."""

from __future__ import annotations

from chaos.promql.rules import AlertEpisode, AlertingRule, RecordingRule, RuleGroup, evaluate_rules
from chaos.promql.series import Series, is_stale
from chaos.promql.syntax import parse


def step(on: float, off: float, end: float = 400) -> Series:
    """A 0/1 gauge sampled every second: 1 from ``on`` until before ``off``."""
    return Series.regular("cond", {"job": "x"}, [1.0 if on <= t < off else 0.0 for t in range(int(end) + 1)])


def alert(name: str = "A", expr: str = "cond > 0", **kw: float) -> AlertingRule:
    return AlertingRule(name, parse(expr), expr, **kw)  # type: ignore[arg-type]


def episodes(rule: AlertingRule, series: list[Series], interval: float = 10, end: float = 400,
             start: float = 0) -> tuple[AlertEpisode, ...]:
    results = evaluate_rules([RuleGroup("g", (rule,), interval)], series, start, end)
    assert results.errors == ()
    assert len(results.alerts) <= 1
    return results.alerts[0].episodes if results.alerts else ()


def test_for_delays_firing_and_resolution_is_at_the_first_evaluation_without_it() -> None:
    # true from 95 s to 200 s; evaluations every 10 s: pending at 100, held 30 s -> fires at 130,
    # the condition is gone at the 200 s evaluation -> resolved at 200
    assert episodes(alert(for_=30), [step(95, 200)]) == (AlertEpisode(100, 130, 200),)


def test_without_for_an_alert_fires_at_the_evaluation_that_sees_it() -> None:
    assert episodes(alert(), [step(95, 200)]) == (AlertEpisode(100, 100, 200),)


def test_a_pending_alert_that_clears_never_fires() -> None:
    assert episodes(alert(for_=60), [step(95, 140)]) == (AlertEpisode(100, None, 140),)


def test_keep_firing_for_holds_an_alert_after_its_condition_clears() -> None:
    # gone at 200; kept while less than 45 s have passed since 200: resolves at 250
    assert episodes(alert(keep_firing_for=45), [step(95, 200)]) == (AlertEpisode(100, 100, 250),)


def test_keep_firing_for_restarts_when_the_condition_returns() -> None:
    # true 95-200 and 220-230: back at 220 while kept, gone again at 230, kept until 230 + 45 -> 280
    flap = Series.regular("cond", {"job": "x"}, [1.0 if 95 <= t < 200 or 220 <= t < 230 else 0.0
                                                   for t in range(401)])
    assert episodes(alert(keep_firing_for=45), [flap]) == (AlertEpisode(100, 100, 280),)


def test_the_evaluation_phase_decides_when_an_alert_is_seen() -> None:
    # the same condition evaluated from 0 s and from 7 s every 10 s: pending at 100 or 97
    assert episodes(alert(for_=30), [step(95, 200)], start=7) == (AlertEpisode(97, 127, 207),)


def test_a_resolved_alert_that_returns_starts_a_new_episode() -> None:
    twice = Series.regular("cond", {"job": "x"}, [1.0 if 50 <= t < 80 or 150 <= t < 170 else 0.0
                                                    for t in range(401)])
    assert episodes(alert(), [twice]) == (AlertEpisode(50, 50, 80), AlertEpisode(150, 150, 170))


def test_alert_labels_and_annotations_are_templated_and_identity_includes_labels() -> None:
    rule = AlertingRule("A", parse("cond > 0"), "cond > 0", labels=(("copy", "{{ $labels.job }}"),),
                        annotations=(("summary", "{{ $labels.job }} at {{ $value }}"),))
    results = evaluate_rules([RuleGroup("g", (rule,), 10)], [step(95, 200)], 0, 400)
    (timeline,) = results.alerts
    assert dict(timeline.labels) == {"alertname": "A", "copy": "x", "job": "x"}
    assert dict(timeline.annotations) == {"summary": "x at 1"}


def test_recording_rules_feed_later_rules_and_go_stale_when_they_stop() -> None:
    record = RecordingRule("job:cond:max", parse("cond > 0"), "cond > 0")
    rule = alert(expr="job:cond:max")
    results = evaluate_rules([RuleGroup("g", (record, rule), 10)], [step(95, 200)], 0, 400)
    assert results.alerts[0].episodes == (AlertEpisode(100, 100, 200),)  # same instant, no lag
    recorded = next(s for s in results.recorded if s.name == "job:cond:max")
    assert recorded.times[:2] == (100.0, 110.0)
    assert is_stale(recorded.values[recorded.times.index(200.0)])


def test_query_errors_are_reported_and_leave_the_state_alone() -> None:
    dup = [Series.of("m", {"a": "1", "b": "1"}, [(0, 1.0)]), Series.of("m", {"a": "1", "b": "2"}, [(0, 1.0)]),
           Series.of("n", {"a": "1"}, [(0, 1.0)])]
    rule = alert(expr="m * on (a) n")
    results = evaluate_rules([RuleGroup("g", (rule,), 10)], dup, 0, 20)
    assert len(results.errors) == 3 and "many-to-one matching must be explicit" in results.errors[0].message
    assert results.alerts == ()


def test_groups_keep_their_own_intervals() -> None:
    fast = RuleGroup("fast", (alert("Fast"),), 5)
    slow = RuleGroup("slow", (alert("Slow"),), 60)
    results = evaluate_rules([fast, slow], [step(95, 200)], 0, 400)
    assert results.first_firing("Fast") == 95 and results.first_firing("Slow") == 120
    assert dict(results.evaluations)["slow"] == (0.0, 60.0, 120.0, 180.0, 240.0, 300.0, 360.0)
