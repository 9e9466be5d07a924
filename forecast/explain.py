"""Turn a forecast into what a planner reads: level, trend, season, factors and a Chinese summary."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from forecast import methods as M
from forecast.prepare import CALENDAR_FACTORS, FACTOR_LABELS, PROMO_FACTOR, Decomposition, Prepared, future_parts
from forecast.types import Explanation

#: The period a planner reads, per engine frequency.
UNITS = {"W": "周", "D": "天"}
#: How many factors an explanation lists.
TOP_FACTORS = 5


def _fmt(value: float) -> str:
    return f"{value:+.1f}" if abs(value) < 100 else f"{value:+.0f}"


def explain(
    prep: Prepared,
    dec: Decomposition | None,
    method: str,
    season: int,
    horizon: int,
    mean: list[float],
    accuracy: dict[str, dict[str, float]],
    short: bool,
) -> Explanation:
    """Return the Explanation of one forecast (``mean`` as returned to the caller)."""
    n = prep.length
    zeros = (0.0,) * horizon
    unit = UNITS.get(prep.freq, "周")
    if dec is None:
        text = "没有历史数据，预测为 0。" if n == 0 else f"过去 {n} {unit}没有需求记录，预测为 0。"
        return Explanation(0.0, 0.0, zeros, zeros, zeros, (), short, text)
    m = np.asarray(mean, dtype=float)
    seas, effects = future_parts(prep, dec, season, n, horizon)
    if method == M.BASELINE:
        # the baseline repeats last season as it was: level is that season's average
        level_now = float(np.mean(dec.clean[-min(n, season) :]))
        seas, effects = m - level_now, np.zeros_like(effects)
        base = np.full(horizon, level_now)
    elif method in M.SMOOTH_METHODS:
        base = m - seas - effects.sum(axis=1)
    else:
        seas = np.zeros(horizon)
        base = m - effects.sum(axis=1)
    level = float(base[0]) if horizon else 0.0
    trend = float((base[-1] - base[0]) / (horizon - 1)) if horizon > 1 else 0.0
    names = prep.factor_names
    holiday_cols = [j for j, name in enumerate(names) if name in CALENDAR_FACTORS]
    promo_cols = [j for j, name in enumerate(names) if name == PROMO_FACTOR]
    holiday = effects[:, holiday_cols].sum(axis=1) if holiday_cols else np.zeros(horizon)
    promo = effects[:, promo_cols].sum(axis=1) if promo_cols else np.zeros(horizon)
    factors: list[tuple[str, float]] = []
    for j, name in enumerate(names):
        contribution = float(effects[:, j].mean())
        if abs(contribution) > 1e-6:
            factors.append((FACTOR_LABELS.get(name, name), round(contribution, 3)))
    if np.abs(seas).max(initial=0.0) > 1e-6:
        factors.append(("季节性", round(float(np.mean(seas)), 3)))
    if abs(trend) > 1e-6 and horizon > 1:
        factors.append(("趋势", round(trend * (horizon - 1) / 2, 3)))
    factors.sort(key=lambda f: -abs(f[1]))
    factors = factors[:TOP_FACTORS]
    summary = summary_text(method, horizon, m, accuracy, factors, short, n, unit)
    return rounded_explanation(level, trend, seas, holiday, promo, factors, short, summary)


def rounded_explanation(level: float, trend: float, seasonality: np.ndarray, holiday: np.ndarray,
                        promo: np.ndarray, factors: Sequence[tuple[str, float]], short: bool,
                        summary: str) -> Explanation:
    """An Explanation with its figures rounded as they are stored and shown (4 decimals)."""
    return Explanation(
        level=round(level, 4),
        trend=round(trend, 4),
        seasonality=tuple(round(float(v), 4) for v in seasonality),
        holiday_effect=tuple(round(float(v), 4) for v in holiday),
        promo_effect=tuple(round(float(v), 4) for v in promo),
        factors=tuple(factors),
        short_history=short,
        summary=summary,
    )


def summary_text(
    method: str,
    horizon: int,
    mean: np.ndarray,
    accuracy: dict[str, dict[str, float]],
    factors: list[tuple[str, float]],
    short: bool,
    n: int,
    unit: str = "周",
) -> str:
    """Return the Chinese summary: total and average demand, method, backtest MASE, factors."""
    label = M.METHODS.get(method, method)
    avg = "日均" if unit == "天" else "周均"
    parts = [f"未来 {horizon} {unit}预计共需 {mean.sum():.0f}，{avg} {mean.mean():.1f}（方法：{label}）。"]
    mine = accuracy.get(method, {}).get("mase", math.nan)
    base = accuracy.get(M.BASELINE, {}).get("mase", math.nan)
    if math.isfinite(mine) and math.isfinite(base) and method != M.BASELINE:
        parts.append(f"回测误差 MASE {mine:.2f}，去年同期法 {base:.2f}。")
    elif math.isfinite(mine):
        parts.append(f"回测误差 MASE {mine:.2f}。")
    if factors:
        per = "日" if unit == "天" else "周"
        parts.append("主要因素：" + "，".join(f"{name} {_fmt(v)}/{per}" for name, v in factors[:3]) + "。")
    if short:
        parts.append(f"历史仅 {n} {unit}，数据偏少，预测仅供参考。")
    return "".join(parts)
