"""The part of Prometheus's alert templating that rules need: ``$labels`` and ``$value``.

Rule labels and annotations are Go templates. A label's value is part of an alert's
identity, so a label template must be understood exactly: only ``{{ $labels.NAME }}``,
``{{ .Labels.NAME }}``, ``{{ $value }}`` and ``{{ .Value }}`` are accepted there, and
anything else is refused when the rule file is read. Annotations do not change when an
alert fires; in them the same forms are expanded and any other action is kept as written.
"""

from __future__ import annotations

import re

from chaos.promql.functions import format_value
from chaos.promql.series import Labels, get

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
_LABEL = re.compile(r"(?:\$labels|\.Labels)\.([A-Za-z_][A-Za-z0-9_]*)")
_VALUE = re.compile(r"\$value|\.Value")


def unsupported_action(text: str) -> str | None:
    """The first template action in ``text`` that :func:`expand` cannot evaluate, if any."""
    for match in _ACTION.finditer(text):
        action = match.group(1)
        if not (_LABEL.fullmatch(action) or _VALUE.fullmatch(action)):
            return match.group(0)
    return None


def expand(text: str, labels: Labels, value: float) -> str:
    """``text`` with its ``$labels``/``$value`` actions filled in; other actions are left as written."""
    if "{{" not in text:
        return text

    def fill(match: re.Match[str]) -> str:
        action = match.group(1)
        label = _LABEL.fullmatch(action)
        if label:
            name = label.group(1)
            found = any(k == name for k, _ in labels)
            return get(labels, name) if found else "<no value>"
        if _VALUE.fullmatch(action):
            return format_value(value)
        return match.group(0)

    return _ACTION.sub(fill, text)
