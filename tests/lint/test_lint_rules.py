"""Each lint rule fires on a topology built to trigger it, names the path that proves it, and stays
silent on a clean topology."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.lint import Finding, Rule, Severity, attempts_factor, lint
from chaos.model.files import load_topology
from chaos.model.topology import Topology

CLEAN = """\
name: clean
entrypoints:
  web: {to: gateway, timeout: 3s, retries: {max: 1}}
services:
  gateway:
    replicas: 2
    service_time: 1ms
    calls:
      - {to: api, timeout: 1s}
  api:
    replicas: 2
    service_time: 2ms
    calls:
      - {to: db, timeout: 300ms, retries: {max: 1, backoff: {base: 20ms}}}
      - {to: cache, timeout: 50ms, fallback: true}
  db:
    replicas: 2
    service_time: 3ms
  cache:
    replicas: 1
    service_time: 1ms
"""


def topology(tmp_path: Path, text: str, name: str = "t.yaml") -> Topology:
    path = tmp_path / name
    path.write_text(text)
    return load_topology(path)


def only(findings: list[Finding], rule: Rule) -> list[Finding]:
    return [f for f in findings if f.rule is rule]


def test_a_clean_topology_has_no_findings(tmp_path: Path) -> None:
    assert lint(topology(tmp_path, CLEAN)) == []


def test_timeout_inversion_points_at_the_inner_timeout(tmp_path: Path) -> None:
    text = CLEAN.replace("{to: db, timeout: 300ms", "{to: db, timeout: 1s")
    (finding,) = only(lint(topology(tmp_path, text)), Rule.TIMEOUT_INVERSION)
    assert finding.severity is Severity.ERROR
    assert finding.path == ("gateway", "api", "db")
    assert finding.location is not None and finding.location.line == 14  # db's call, in api's calls
    assert "1s" in finding.message and "gateway gives up" in finding.message


def test_an_entrypoint_is_a_caller_too(tmp_path: Path) -> None:
    text = CLEAN.replace("{to: api, timeout: 1s}", "{to: api, timeout: 3s}")
    (finding,) = only(lint(topology(tmp_path, text)), Rule.TIMEOUT_INVERSION)
    assert finding.path == ("entrypoint:web", "gateway", "api")


def test_retries_that_outlast_the_caller_are_a_warning(tmp_path: Path) -> None:
    # db then cache, in sequence: 2 x 300 ms + 20 ms backoff + 50 ms = 670 ms < 1 s in CLEAN;
    # with one more retry 3 x 300 ms + 20 + 40 ms + 50 ms = 1.01 s
    (finding,) = only(lint(topology(tmp_path, CLEAN.replace("max: 1, backoff", "max: 2, backoff"))),
                      Rule.RETRIES_OUTLAST_CALLER)
    assert finding.severity is Severity.WARNING
    assert finding.path == ("gateway", "api") and finding.via == ("db", "cache")
    assert "1.01s" in finding.message


def test_sequential_calls_add_up(tmp_path: Path) -> None:
    text = CLEAN.replace("{to: cache, timeout: 50ms, fallback: true}", "{to: cache, timeout: 800ms, fallback: true}")
    (finding,) = only(lint(topology(tmp_path, text)), Rule.RETRIES_OUTLAST_CALLER)
    assert finding.via == ("db", "cache")  # 2 x 300 ms + 20 ms, then 800 ms: 1.42 s >= 1 s
    assert "1.42s" in finding.message


def test_parallel_calls_count_once(tmp_path: Path) -> None:
    text = CLEAN.replace("{to: db, timeout: 300ms", "{to: db, mode: parallel, timeout: 300ms").replace(
        "{to: cache, timeout: 50ms, fallback: true}", "{to: cache, mode: parallel, timeout: 800ms, fallback: true}")
    assert only(lint(topology(tmp_path, text)), Rule.RETRIES_OUTLAST_CALLER) == []


def chain(retries: int, extra: str = "") -> str:
    """entry -> s0 -> s1 -> s2 -> s3, each call with ``retries`` retries."""
    lines = ["name: chain", "entrypoints:", "  web: {to: s0, timeout: 100s}", "services:"]
    for i in range(4):
        lines += [f"  s{i}:", "    replicas: 2", "    service_time: 1ms"]
        if i < 3:
            lines += ["    calls:", f"      - {{to: s{i + 1}, timeout: {10 ** (1 - i)}s, "
                                    f"retries: {{max: {retries}{extra}}}}}"]
    return "\n".join(lines) + "\n"


def test_amplification_is_the_product_of_attempts_along_the_path(tmp_path: Path) -> None:
    topo = topology(tmp_path, chain(2))
    (finding,) = only(lint(topo), Rule.RETRY_AMPLIFICATION)
    assert finding.severity is Severity.ERROR
    assert finding.path == ("entrypoint:web", "s0", "s1", "s2", "s3")
    assert "up to 27 attempts at s3" in finding.message  # (r+1)^d exactly, d = 3 layers
    assert only(lint(topo, max_amplification=27), Rule.RETRY_AMPLIFICATION) == []
    assert only(lint(topology(tmp_path, chain(1))), Rule.RETRY_AMPLIFICATION) == []  # 8


def test_budgets_and_breakers_bound_amplification(tmp_path: Path) -> None:
    budgeted = topology(tmp_path, chain(2, ", budget: 0.1"))
    assert only(lint(budgeted), Rule.RETRY_AMPLIFICATION) == []
    assert attempts_factor(budgeted.call("s0", "s1")) == pytest.approx(1.1)
    breakered = chain(2).replace("}}\n", "}, circuit_breaker: {failure_ratio: 0.5}}\n")
    topo = topology(tmp_path, breakered)
    assert attempts_factor(topo.call("s0", "s1")) == pytest.approx(1 + 0.5 + 0.25)  # (1 - f^3) / (1 - f)
    assert only(lint(topo), Rule.RETRY_AMPLIFICATION) == []  # 1.75^3 = 5.4


def test_single_point_of_failure_needs_one_replica_and_every_request(tmp_path: Path) -> None:
    text = CLEAN.replace("  db:\n    replicas: 2", "  db:\n    replicas: 1")
    (finding,) = only(lint(topology(tmp_path, text)), Rule.SINGLE_POINT_OF_FAILURE)
    assert finding.severity is Severity.WARNING
    assert finding.path == ("entrypoint:web", "gateway", "api", "db")
    # cache has one replica too, but its call falls back: requests do not need it
    sometimes = text.replace("{to: db, timeout: 300ms", "{to: db, probability: 0.5, timeout: 300ms")
    assert only(lint(topology(tmp_path, sometimes)), Rule.SINGLE_POINT_OF_FAILURE) == []
    no_fallback = CLEAN.replace("timeout: 50ms, fallback: true", "timeout: 50ms")
    (cache,) = only(lint(topology(tmp_path, no_fallback)), Rule.SINGLE_POINT_OF_FAILURE)
    assert cache.path[-1] == "cache"


def test_a_single_point_every_entrypoint_needs_names_them_all(tmp_path: Path) -> None:
    """Two request types, both through db: one finding that says every entrypoint depends on it, not one of them."""
    text = (CLEAN.replace("  db:\n    replicas: 2", "  db:\n    replicas: 1")
            .replace("  web: {to: gateway, timeout: 3s, retries: {max: 1}}",
                     "  web: {to: gateway, timeout: 3s, retries: {max: 1}}\n  admin: {to: api, timeout: 3s}"))
    (finding,) = only(lint(topology(tmp_path, text)), Rule.SINGLE_POINT_OF_FAILURE)
    assert "every entrypoint (web, admin) depends on it" in finding.message
    assert "every web request" not in finding.message
    # with a third entrypoint that does not need db, the finding names exactly the two that do
    third = text.replace("  admin: {to: api, timeout: 3s}", "  admin: {to: api, timeout: 3s}\n  ping: {to: cache}")
    db, cache = only(lint(topology(tmp_path, third)), Rule.SINGLE_POINT_OF_FAILURE)
    assert db.path[-1] == "db" and "every web and admin request needs it" in db.message
    assert cache.path == ("entrypoint:ping", "cache") and "every ping request needs it" in cache.message


def test_cycles_are_errors_with_the_loop_as_path(tmp_path: Path) -> None:
    text = CLEAN.replace("  db:\n    replicas: 2\n    service_time: 3ms\n",
                         "  db:\n    replicas: 2\n    service_time: 3ms\n    calls:\n"
                         "      - {to: api, probability: 0.1, timeout: 100ms}\n")
    (finding,) = only(lint(topology(tmp_path, text)), Rule.CYCLE)
    assert finding.severity is Severity.ERROR
    assert finding.path[0] == finding.path[-1] and set(finding.path) == {"api", "db"}


def test_missing_timeouts(tmp_path: Path) -> None:
    text = CLEAN.replace("{to: api, timeout: 1s}", "{to: api}").replace("timeout: 3s, retries", "retries")
    findings = only(lint(topology(tmp_path, text)), Rule.NO_TIMEOUT)
    assert {(f.path, f.severity) for f in findings} == {(("gateway", "api"), Severity.ERROR),
                                                        (("entrypoint:web", "gateway"), Severity.WARNING)}


def test_worst_case_attempts_without_breaker_or_budget() -> None:
    from chaos.model.topology import Call, Retries
    assert attempts_factor(Call(to="x", retries=Retries(max=3))) == 4
    assert math.isclose(attempts_factor(Call(to="x", retries=Retries(max=3, budget=2.0))), 3.0)


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "clean.yaml").write_text(CLEAN)
    (tmp_path / "chain.yaml").write_text(chain(2))
    assert main(["lint", str(tmp_path / "clean.yaml")]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().out
    assert main(["lint", str(tmp_path / "chain.yaml"), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == 1 and doc["findings"][0]["rule"] == "retry-amplification"
    assert doc["findings"][0]["path"] == ["entrypoint:web", "s0", "s1", "s2", "s3"]
    assert main(["lint", str(tmp_path / "chain.yaml"), "--max-amplification", "30"]) == 0


def test_text_output_reads_like_a_compiler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "inv.yaml").write_text(CLEAN.replace("{to: db, timeout: 300ms", "{to: db, timeout: 1s"))
    assert main(["lint", str(tmp_path / "inv.yaml")]) == 1
    first, path = capsys.readouterr().out.splitlines()[:2]
    assert first.startswith(f"{tmp_path / 'inv.yaml'}:14:") and "error[timeout-inversion]" in first
    assert path.strip() == "path: gateway -> api -> db"


def test_the_bundled_shop_lints_with_paths_inside_it(capsys: pytest.CaptureFixture[str]) -> None:
    shop = Path(__file__).resolve().parents[2] / "topologies" / "shop.yaml"
    code = main(["lint", str(shop), "--json"])
    doc = json.loads(capsys.readouterr().out)
    topo = load_topology(shop)
    assert code == (1 if doc["errors"] else 0)
    names = set(topo.service_map) | {f"entrypoint:{e}" for e in topo.entrypoint_map}
    for finding in doc["findings"]:
        assert set(finding["path"]) <= names
        assert finding["location"].split(":")[0].endswith("shop.yaml")


def test_an_experiment_is_linted_with_its_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "chain.yaml").write_text(chain(2))
    (tmp_path / "exp.yaml").write_text(
        "name: e\ntopology: chain.yaml\nduration: 10s\nload: {rate: 1}\n"
        "overrides:\n  services.s0.calls.s1.retries.budget: 0.1\n")
    assert main(["lint", str(tmp_path / "exp.yaml")]) == 0  # 1.1 x 3 x 3 = 9.9


def test_a_service_no_entrypoint_reaches_is_a_warning(tmp_path: Path) -> None:
    text = CLEAN + ("  audit:\n    replicas: 2\n    service_time: 1ms\n    calls:\n      - {to: db, timeout: 100ms}\n"
                    "  archive:\n    replicas: 2\n    service_time: 1ms\n    calls:\n"
                    "      - {to: audit, timeout: 200ms}\n")
    findings = only(lint(topology(tmp_path, text)), Rule.UNREACHABLE)
    assert [f.path for f in findings] == [("audit",), ("archive",)]
    assert {f.severity for f in findings} == {Severity.WARNING}
    assert "archive" in findings[0].message and "no service calls it" in findings[1].message
    # once a reached service calls archive, both are visited
    cache = "      - {to: cache, timeout: 50ms, fallback: true}\n"
    reached = text.replace(cache, cache + "      - {to: archive, timeout: 250ms}\n")
    assert only(lint(topology(tmp_path, reached)), Rule.UNREACHABLE) == []


def test_a_propagated_deadline_is_not_an_inversion(tmp_path: Path) -> None:
    """Cancelling on timeout stops the work when the caller gives up: nothing is wasted, nothing to flag."""
    inverted = CLEAN.replace("{to: db, timeout: 300ms", "{to: db, timeout: 1s")
    (finding,) = only(lint(topology(tmp_path, inverted)), Rule.TIMEOUT_INVERSION)
    assert "cancel_on_timeout on gateway->api and api->db" in finding.message
    # half the propagation still wastes the callee's work, and the message names the missing half
    outer_only = inverted.replace("{to: api, timeout: 1s}", "{to: api, timeout: 1s, cancel_on_timeout: true}")
    (finding,) = only(lint(topology(tmp_path, outer_only)), Rule.TIMEOUT_INVERSION)
    assert "cancel_on_timeout on api->db)" in finding.message
    both = outer_only.replace("{to: db, timeout: 1s", "{to: db, timeout: 1s, cancel_on_timeout: true")
    findings = lint(topology(tmp_path, both))
    assert only(findings, Rule.TIMEOUT_INVERSION) == []
    # and no late attempts are made either: api stops retrying once gateway has given up
    assert only(findings, Rule.RETRIES_OUTLAST_CALLER) == []


def test_the_hardened_shop_answers_the_shops_lint_errors(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the README's commands, as printed
    assert main(["lint", "topologies/shop.yaml", "--json"]) == 1
    errors = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["severity"] == "error"]
    assert {f["rule"] for f in errors} == {"timeout-inversion", "retry-amplification"}
    assert main(["lint", "topologies/shop-hardened.yaml"]) == 0
    assert "shop-hardened: 0 errors" in capsys.readouterr().out
    # what its comments claim: budgets take browse's 18 attempts at db to 6.6 (via cart; 2.42 via
    # catalog); buy's path (9, under the limit of 10) is unchanged
    hardened = load_topology("topologies/shop-hardened.yaml")
    by_entry = {f.path[0]: f.message for f in only(lint(hardened, max_amplification=2), Rule.RETRY_AMPLIFICATION)}
    assert "up to 6.6 attempts at db (2 x 1 x 1.1 x 3)" in by_entry["entrypoint:browse"]
    assert "up to 9 attempts at db (1 x 3 x 3)" in by_entry["entrypoint:buy"]
