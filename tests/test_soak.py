"""The soak's short form (bench/soak.py): two real gateway processes on one real Redis, honest and
unpaid clients, Redis restarted without persistence in the middle."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_a_short_soak_has_no_unexpected_answers_and_no_double_spends() -> None:
    path = Path(__file__).parents[1] / "bench" / "soak.py"
    spec = importlib.util.spec_from_file_location("soak", path)
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    result = soak.run(["--seconds", "10", "--clients", "2"])
    assert result["unexpected"] == {}, result
    assert result["double_spends"] == 0, result
    assert result["stale_passes_served_after_restart"] == 0, result
    assert result["passes"] > 2, result  # honest clients paid, before and after the restart
    assert result["log_bytes_per_request"] < 400, result  # one line per cause, not per request
