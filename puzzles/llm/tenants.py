"""Fair-scheduling settings of the LLM pool: tenant weights, token weights, the batch floor.

The file named by ``GATE_LLM_TENANTS`` is YAML (or JSON)::

    tenants:                # weight per tenant: a tenant of weight 2 gets twice the service
      site-a: 2             # of a tenant of weight 1 when both are backlogged
      site-b: {weight: 0.5}
    default_weight: 1       # tenants not listed
    input_weight: 1         # service = input_weight * prompt tokens + output_weight * output
    output_weight: 2        #   tokens (output costs more: it is generated one step at a time)
    batch_floor: 0.1        # share of dispatches batch work keeps while interactive work waits
    policy: fair            # or fifo: arrival order, no fairness (a baseline for comparisons)
    headroom: 1             # extra slots per backend above max_in_flight, only for sparse
                            #   flows (one call waiting, under their share of slots): a
                            #   newcomer starts at once in a pool that others saturate
    burst: 0                # weighted tokens of credit a tenant under its share keeps, so a
                            #   short burst is served at once (widens the fairness bound by it)

Every key is optional; without the file every tenant weighs 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gate.errors import ConfigError
from gate.settings import setting, variable

__all__ = ["TENANTS_ENV_VAR", "FairnessSettings", "fairness_from_env", "load_fairness"]

TENANTS_ENV_VAR = variable("llm_tenants")
_KEYS = frozenset(
    {
        "tenants",
        "default_weight",
        "input_weight",
        "output_weight",
        "batch_floor",
        "policy",
        "headroom",
        "burst",
    }
)
_POLICIES = ("fair", "fifo")


@dataclass(frozen=True, slots=True)
class FairnessSettings:
    weights: Mapping[str, float] = field(default_factory=dict)
    default_weight: float = 1.0
    input_weight: float = 1.0
    output_weight: float = 2.0
    batch_floor: float = 0.1
    policy: str = "fair"
    headroom: int = 1
    burst: float = 0.0


def load_fairness(text_or_path: str | Path) -> FairnessSettings:
    """Parse the settings from YAML/JSON text or a ``Path``; mistakes are ``ConfigError``."""
    source = "LLM tenants"
    if isinstance(text_or_path, Path):
        source = str(text_or_path)
        try:
            text_or_path = text_or_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {source}: {exc}") from exc
    try:
        data = yaml.safe_load(text_or_path)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML/JSON: {exc}") from exc
    if data is None:
        return FairnessSettings()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(str(key) for key in data if key not in _KEYS)
    if unknown:
        raise ConfigError(
            f"{source}: key {unknown[0]!r} is not known (known: {', '.join(sorted(_KEYS))})"
        )
    tenants = data.get("tenants") or {}
    if not isinstance(tenants, dict):
        raise ConfigError(f"{source}: 'tenants' must map tenant names to weights")
    weights: dict[str, float] = {}
    for name, value in tenants.items():
        if isinstance(value, dict):
            if set(value) != {"weight"}:
                raise ConfigError(f"{source}: tenant {name!r} takes only 'weight'")
            value = value["weight"]
        weights[str(name)] = _number(value, f"weight of tenant {name!r}", source, positive=True)
    floor = _number(data.get("batch_floor", 0.1), "batch_floor", source, positive=False)
    if floor > 1:
        raise ConfigError(f"{source}: batch_floor must be within [0, 1], got {floor}")
    policy = data.get("policy", "fair")
    if policy not in _POLICIES:
        raise ConfigError(f"{source}: policy must be fair or fifo, got {policy!r}")
    headroom = data.get("headroom", 1)
    if isinstance(headroom, bool) or not isinstance(headroom, int) or headroom < 0:
        raise ConfigError(f"{source}: headroom must be an integer >= 0, got {headroom!r}")
    return FairnessSettings(
        headroom=headroom,
        burst=_number(data.get("burst", 0), "burst", source, positive=False),
        policy=str(policy),
        weights=weights,
        default_weight=_number(
            data.get("default_weight", 1), "default_weight", source, positive=True
        ),
        input_weight=_number(data.get("input_weight", 1), "input_weight", source, positive=False),
        output_weight=_number(
            data.get("output_weight", 2), "output_weight", source, positive=False
        ),
        batch_floor=floor,
    )


def fairness_from_env(env: Mapping[str, str]) -> FairnessSettings:
    """Settings from the file named by ``GATE_LLM_TENANTS``; defaults when it is unset."""
    path = str(setting("llm_tenants", env)).strip()
    if not path:
        return FairnessSettings()
    if not Path(path).is_file():
        raise ConfigError(f"{TENANTS_ENV_VAR}: no such file: {path}")
    return load_fairness(Path(path))


def _number(value: object, name: str, source: str, *, positive: bool) -> float:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"{source}: {name} must be a number {bound}, got {value!r}")
    return float(value)  # type: ignore[arg-type]
