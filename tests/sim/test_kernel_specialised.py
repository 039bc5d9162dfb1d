"""Every comparison in the simulation kernel can be specialised by CPython 3.11.

3.11's specialising interpreter turns a comparison of two small ints or two floats into a
fast instruction only when the conditional jump that uses it follows directly. A jump over
more than 255 code units needs an ``EXTENDED_ARG`` prefix, which then sits between the two,
and the comparison takes the generic path (``PyObject_RichCompare``) on every run. Issue 13
grew two bodies on the hot path past that length (``answer``'s test of the outcome and
``run_stages``' loop test): about two generic comparisons per span, 7.5 M of the 24 M
instructions per simulated second that the kernel had gained over b3afdbf (cachegrind,
``benchmarks/sim_speed.py``'s docstring).
Checked here so that a longer body does not bring them back unnoticed.
"""

from __future__ import annotations

import dis
import sys
import types
from collections.abc import Iterator

import pytest

import chaos.sim.kernel as kernel

pytestmark = pytest.mark.skipif(sys.version_info[:2] != (3, 11),
                                reason="the rule is CPython 3.11's; 3.12 specialises comparisons without it")


def _codes(obj: object, name: str) -> Iterator[tuple[str, types.CodeType]]:
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, types.FunctionType) and obj.__module__ == kernel.__name__:
        yield from _nested(name, obj.__code__)
    elif isinstance(obj, type) and obj.__module__ == kernel.__name__:
        for key, value in vars(obj).items():
            yield from _codes(value, f"{name}.{key}")


def _nested(name: str, code: types.CodeType) -> Iterator[tuple[str, types.CodeType]]:
    yield name, code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested(f"{name}.{const.co_name}", const)


def unspecialisable(module: types.ModuleType) -> list[str]:
    """Where a comparison in ``module``'s functions is followed by EXTENDED_ARG instead of its jump."""
    found = []
    for key, value in vars(module).items():
        for name, code in _codes(value, key):
            ins = list(dis.get_instructions(code))
            found += [f"{name}, line {a.positions.lineno if a.positions else '?'}"
                      for a, b in zip(ins, ins[1:], strict=False)
                      if a.opname == "COMPARE_OP" and b.opname == "EXTENDED_ARG"]
    return found


def test_the_check_finds_a_comparison_before_a_long_jump() -> None:
    body = "\n".join(f"        x{k} = a + {k}" for k in range(120))  # a body longer than 255 code units
    source = f"def f(a, b):\n    if a < b:\n{body}\n    return a\n"
    module = types.ModuleType(kernel.__name__)
    exec(compile(source, "<long>", "exec"), module.__dict__)  # noqa: S102  (a fixed function built here)
    module.f.__module__ = kernel.__name__
    assert unspecialisable(module) == ["f, line 2"]


def test_no_comparison_in_the_kernel_is_left_unspecialised() -> None:
    assert unspecialisable(kernel) == []
