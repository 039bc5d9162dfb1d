"""`make test`'s groups (tests/conftest.py): what must share a worker does, from the node id alone."""

from __future__ import annotations

from pathlib import Path

from testgroups import GROUP_SECONDS, LIVE_GROUP, SECONDS_PER_TEST, dispatch_order, group_of

ROOT = Path(__file__).parents[1]


def test_every_live_test_is_in_the_one_live_group() -> None:
    for nodeid in ("tests/live/gameday/test_readme_commands.py::test_the_readme_live_commands_run_as_printed",
                   "tests/live/stack/test_stack_plan.py::test_x[a-b]", "tests/live/load/test_load_plan.py::T::test"):
        assert group_of(nodeid, ROOT) == LIVE_GROUP


def test_a_directory_with_a_conftest_is_one_group_so_its_session_fixtures_are_built_once() -> None:
    assert group_of("tests/report/test_report_cli.py::test_a", ROOT) == "tests/report"
    assert group_of("tests/report/test_report_numbers.py::test_b[x]", ROOT) == "tests/report"
    assert group_of("tests/sweep/test_shared.py::test_c", ROOT) == "tests/sweep"


def test_elsewhere_a_module_is_a_group() -> None:
    assert group_of("tests/golden/test_golden.py::test_result_is_the_golden[x]", ROOT) == "tests/golden/test_golden.py"
    assert group_of("tests/test_layout.py::test_test_module_names_are_unique", ROOT) == "tests/test_layout.py"


def test_groups_go_out_longest_first_measured_or_estimated_from_their_tests() -> None:
    heavy, lighter = sorted(GROUP_SECONDS, key=GROUP_SECONDS.__getitem__, reverse=True)[:2]
    many = "tests/many.py"  # not measured: its tests' count says how long, here between the two
    groups = {"tests/few.py": 3, many: int((GROUP_SECONDS[heavy] + GROUP_SECONDS[lighter]) / 2 / SECONDS_PER_TEST),
              lighter: 1, heavy: 2, "tests/also_few.py": 3}
    order = dispatch_order(groups)
    assert order == [heavy, many, lighter, "tests/few.py", "tests/also_few.py"]  # a tie keeps its order
    assert sorted(order) == sorted(groups)


def test_the_measured_groups_are_groups_of_tests_that_exist() -> None:
    for group in GROUP_SECONDS:
        assert group == group_of(f"{group}::t" if group.endswith(".py") else f"{group}/test_x.py::t", ROOT), group
        assert (ROOT / group).exists(), group
