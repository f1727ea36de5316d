"""The one output format of every benchmark: JSON lines
``{"metric", "value", "unit", "baseline", "ratio"}`` on stdout (ratio = value / baseline)."""

from __future__ import annotations

import json


def emit(metric: str, value: float, unit: str, baseline: float | None = None) -> None:
    ratio = round(value / baseline, 3) if baseline else None
    line = {
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": baseline,
        "ratio": ratio,
    }
    print(json.dumps(line), flush=True)
