"""The map's lasso: which points a ``lasso`` filter's polygons select (add and subtract, in order)."""

from __future__ import annotations

import numpy as np


def lasso_polygons(lasso) -> list[dict]:
    """The polygons of a ``lasso`` filter value as a list of dicts (one polygon: a list of one);
    anything else (not a dict or a list of dicts): an empty list."""
    if isinstance(lasso, dict):
        return [lasso]
    if isinstance(lasso, (list, tuple)) and lasso and all(isinstance(p, dict) for p in lasso):
        return list(lasso)
    return []


def lasso_mask(x: np.ndarray, y: np.ndarray, lasso) -> np.ndarray:
    """Which points a (validated) ``lasso`` filter selects: its polygons applied in order, ``add``
    (the default) taking the union and ``subtract`` removing, starting from nothing selected."""
    sel = np.zeros(len(x), dtype=bool)
    for p in lasso_polygons(lasso):
        inside = points_in_polygon(x, y, p["x"], p["y"])
        if p.get("op", "add") == "subtract":
            sel &= ~inside
        else:
            sel |= inside
    return sel


def points_in_polygon(x: np.ndarray, y: np.ndarray, px: list[float], py: list[float]) -> np.ndarray:
    """Even-odd rule point-in-polygon, vectorised over points. Returns a boolean mask."""
    px, py = np.asarray(px, dtype=np.float64), np.asarray(py, dtype=np.float64)
    inside = np.zeros(len(x), dtype=bool)
    j = len(px) - 1
    for i in range(len(px)):
        xi, yi, xj, yj = px[i], py[i], px[j], py[j]
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (xj - xi) * (y - yi) / (yj - yi) + xi
        inside ^= crosses & (x < xint)
        j = i
    return inside
