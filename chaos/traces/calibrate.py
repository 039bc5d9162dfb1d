"""What ``chaoslab calibrate FILE... --topology T`` changes in T: each traced service's time as
``from-traces`` writes it (:func:`chaos.traces.topology.calibrations`), and the request's pace where
the traces show one (:func:`chaos.traces.topology.pace_attribute`). Pure: YAML in, YAML out.

Only the service times are replaced (and the pace declared); calls, pools and everything else stay
as the team wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from chaos.errors import InputError
from chaos.traces.topology import PACE_ATTRIBUTE as PACE
from chaos.traces.topology import Calibrated


@dataclass
class Calibration:
    """The changes ``calibrate`` makes to a topology's parsed YAML (already validated), and what it says of them."""

    path: str
    # The topology's YAML as parsed (and validated before), edited in place and dumped again, so that
    # everything calibrate does not replace comes back as the team wrote it.
    data: dict[str, Any]
    paced: bool  # the traces show a pace: the topology gets the attribute and its services' times by it
    done: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def declare_pace(self, attribute: dict[str, Any]) -> None:
        attributes = self.data.get("attributes") or {}
        mine = attributes.get(PACE)
        if mine is not None and not (isinstance(mine, dict) and "values" in mine):
            raise InputError(f"the topology has a yes-or-no attribute '{PACE}' of its own; calibrating from these "
                             f"traces declares the request's pace under that name (a categorical attribute)",
                             path=f"{self.path}: attributes.{PACE}", hint="rename your attribute")
        if mine is not None:
            self.notes.append(f"attributes.{PACE}: the topology's earlier pace replaced by the one these traces show")
        attributes[PACE] = attribute
        self.data["attributes"] = attributes

    def apply(self, fits: dict[str, Calibrated]) -> None:
        """Every service of the topology the traces show gets its time from ``fits``."""
        for name, service in self.data["services"].items():
            fit = fits.get(str(name))
            if fit is None:
                self.kept.append(str(name))
                continue
            self.service(str(name), service, fit)
        if not self.done:
            raise InputError(f"{self.path}: none of its services appears in the traces",
                             hint="services are paired by name, as chaoslab topology from-traces writes them")
        self.drop_stale_pace()

    def service(self, name: str, service: dict[str, Any], fit: Calibrated) -> None:
        service["service_time"] = yaml.safe_load(fit.yaml)
        self.done.append(f"{name}: {fit.yaml} ({fit.why})")
        self.by_pace(name, service, fit)
        # A topology with operations gets each one's own time: a read and a write are fitted apart.
        for op_name, op in (service.get("operations") or {}).items():
            found = fit.operation(str(op_name))
            if found is None:
                self.kept.append(f"{name}.{op_name}")
                continue
            traced, op_fit = found
            written = service["operations"][op_name] = {**(op or {}), "service_time": yaml.safe_load(op_fit.yaml)}
            self.done.append(f"{name}.{op_name}: {op_fit.yaml} (traced as '{traced}'; {op_fit.why})")
            self.by_pace(f"{name}.{op_name}", written, op_fit)

    def by_pace(self, where: str, part: dict[str, Any], fit: Calibrated) -> None:
        """A service's or an operation's times by the pace (``part`` as the topology file holds it), as the
        traces show them for it; its times by another attribute are left as they were."""
        by = part.get("service_time_by")
        if by is not None and by.get("attribute") != PACE:
            self.notes.append(f"{where}: its times by '{by.get('attribute')}' are left as they were (the traces do "
                              f"not tell that attribute's values apart), and take the place of the calibrated one "
                              f"for the values they list")
        elif fit.paced and self.paced:
            part["service_time_by"] = {"attribute": PACE, "values": {v: yaml.safe_load(d) for v, d in fit.paced}}
            self.done.append(f"{where} by {PACE}: " + ", ".join(f"{v} {d}" for v, d in fit.paced))
        elif by is not None:  # by an earlier pace: stale now that its service_time is the traces'
            del part["service_time_by"]
            self.notes.append(f"{where}: its times by an earlier {PACE} removed (these traces show none for it)")

    def drop_stale_pace(self) -> None:
        """A service the traces do not show keeps its times by an earlier pace only if every value they list is
        still one of the pace's values (a pace of fewer classes would leave them naming none)."""
        attribute = (self.data.get("attributes") or {}).get(PACE)
        if not self.paced or attribute is None:
            return
        values = set(attribute["values"])
        for name, service in self.data["services"].items():
            for where, part in ((str(name), service),
                                *((f"{name}.{o}", op) for o, op in (service.get("operations") or {}).items())):
                by = (part or {}).get("service_time_by")
                if by is not None and by.get("attribute") == PACE and not set(by.get("values") or {}) <= values:
                    del part["service_time_by"]
                    self.notes.append(f"{where}: its times by an earlier {PACE} removed (values the traces' "
                                      f"{PACE} does not have)")
