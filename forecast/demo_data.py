"""A deterministic "demo co-op" of weekly tea sales, for benchmarks, tests and seeding demos.

Shaped like a tea co-operative's shops: a spring new-tea peak around 清明, a Mid-Autumn gift
bump, a strong gift-buying run-up before Spring Festival followed by a quiet festival week,
a few promotion weeks a year, slow-moving intermittent SKUs (tea sets, premium gift boxes),
and stockout weeks where sales fell short of demand (marked censored).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from forecast.calendar import week_features
from forecast.types import Series

#: (code, Chinese name, base weekly demand, spring peak, gift weight, intermittent)
ITEMS: tuple[tuple[str, str, float, float, float, bool], ...] = (
    ("LJ1", "龙井 一级", 40.0, 1.2, 0.5, False),
    ("LJ2", "龙井 二级", 60.0, 0.9, 0.3, False),
    ("BLC", "碧螺春", 30.0, 1.0, 0.4, False),
    ("BC", "白茶 寿眉", 25.0, 0.3, 0.6, False),
    ("HC", "红茶 祁门", 35.0, 0.2, 0.7, False),
    ("GIFT", "茶礼盒", 12.0, 0.3, 3.0, False),
    ("TEASET", "茶具套装", 0.8, 0.0, 1.0, True),
    ("PREMIUM", "明前特级礼盒", 0.6, 1.5, 1.5, True),
)
#: (code, Chinese name, size multiplier)
SITES: tuple[tuple[str, str, float], ...] = (
    ("HZ", "杭州门店", 1.0),
    ("SX", "绍兴门店", 0.7),
    ("NB", "宁波门店", 0.5),
)
DEFAULT_START = date(2023, 1, 2)  # a Monday


@dataclass(frozen=True)
class DemoSeries:
    """One generated item × site history, with the true demand behind the censored sales."""

    series: Series
    item: str
    item_name: str
    site: str
    site_name: str
    demand: tuple[float, ...]  #: true demand per week (sales = demand except in stockout weeks)


def _yearly_shape(monday: date, spring: float, gift: float) -> float:
    doy = (monday + timedelta(days=3)).timetuple().tm_yday
    spring_peak = spring * np.exp(-0.5 * ((doy - 95) / 18) ** 2)  # new tea around 清明 (early April)
    autumn = 0.4 * gift * np.exp(-0.5 * ((doy - 262) / 10) ** 2)  # Mid-Autumn gifts (moves; kept simple)
    summer = -0.15 * np.exp(-0.5 * ((doy - 200) / 25) ** 2)  # hot weeks sell less
    return 1.0 + spring_peak + autumn + summer


def generate(weeks: int = 156, *, start: date = DEFAULT_START, seed: int = 20260101) -> list[DemoSeries]:
    """Return the demo co-op's weekly sales, deterministic for a given ``seed``."""
    rng = np.random.default_rng(seed)
    mondays = [start + timedelta(weeks=i) for i in range(weeks)]
    feats = [week_features(m) for m in mondays]
    out: list[DemoSeries] = []
    for code, name, base, spring, gift, intermittent in ITEMS:
        shape = np.array([_yearly_shape(m, spring, gift) for m in mondays])
        festival = np.array([(1 + 0.9 * gift) if f.pre_spring_festival else (0.55 if f.spring_festival else 1.0)
                             for f in feats])
        for site, site_name, size in SITES:
            level = base * size * (1 + 0.1 * rng.standard_normal())
            trend = 1 + rng.uniform(-0.001, 0.003) * np.arange(weeks)  # slow growth for most shops
            promo = np.zeros(weeks)
            for year in range(weeks // 52 + 1):
                for wk in rng.choice(52, size=3, replace=False):
                    i = year * 52 + int(wk)
                    if i < weeks:
                        promo[i] = 1.0 if rng.random() < 0.7 else 0.5
            mu = level * trend * shape * festival * (1 + 0.6 * promo)
            if intermittent:
                occurs = rng.random(weeks) < np.clip(mu, 0, 0.9)
                demand = occurs * (1 + rng.poisson(1.5, weeks))
            else:
                # negative binomial: shop demand is more dispersed than Poisson
                k = 8.0
                demand = rng.poisson(rng.gamma(k, mu / k))
            demand = demand.astype(float)
            sales = demand.copy()
            # stockouts: more likely when demand peaks (the shop ordered for an ordinary week)
            p_out = 0.03 + 0.12 * (festival > 1.0) + 0.05 * (promo > 0)
            out_weeks = (rng.random(weeks) < p_out) & (demand > 0)
            sales[out_weeks] = np.floor(demand[out_weeks] * rng.uniform(0.2, 0.7, out_weeks.sum()))
            key = f"{code}:{site}"
            series = Series(
                key=key,
                start=start,
                values=tuple(float(v) for v in sales),
                censored=tuple(bool(c) for c in out_weeks),
                promo=tuple(float(p) for p in promo),
            )
            out.append(DemoSeries(series, code, name, site, site_name, tuple(float(v) for v in demand)))
    return out

