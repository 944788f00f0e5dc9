"""Dated parameters of a policy year (OpenFisca style).

Why dated: thresholds and dates change from one year's arrangement to the next. Each value
in the policy file carries its effective period and legal reference, and the engine reads
the value in force on the policy's `as_of` date, so a new year is a data change and an
auditor can trace every figure to its clause.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .errors import PolicyError


def resolve_parameters(table: Any, as_of: dt.date, source: str) -> dict[str, Any]:
    """Return {name: value in force on `as_of`}; every value must cite a reference."""
    if not isinstance(table, Mapping):
        raise PolicyError(f"{source}: [parameters] must be a table")
    out: dict[str, Any] = {}
    for name, spec in table.items():
        where = f"{source}: parameters.{name}"
        values = spec.get("values") if isinstance(spec, Mapping) else None
        if not isinstance(values, list) or not values:
            raise PolicyError(f"{where}: needs a non-empty `values` list")
        in_force = []
        for i, entry in enumerate(values):
            start, stop = entry.get("start"), entry.get("stop")
            if not isinstance(start, dt.date) or not isinstance(stop, dt.date | None):
                raise PolicyError(f"{where}.values[{i}]: start (and stop) must be dates")
            if "value" not in entry or not entry.get("reference"):
                raise PolicyError(f"{where}.values[{i}]: needs a value and its reference")
            if start <= as_of and (stop is None or as_of <= stop):
                in_force.append(entry["value"])
        if len(in_force) != 1:
            raise PolicyError(
                f"{where}: {len(in_force)} values in force on {as_of.isoformat()} (need exactly 1)"
            )
        value = in_force[0]
        out[name] = tuple(value) if isinstance(value, list) else value
    return out
