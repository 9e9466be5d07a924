"""Replenishment maths: safety stock, reorder point, order quantity; and a policy simulation.

Periodic review: every ``review_weeks`` the planner looks at stock position (on hand + on
order) and, if it is below the reorder point, orders up to it. An order placed now must cover
demand until the *next* order arrives, so the protection period is lead time + review period;
the forecast's one-week error sd (Forecast.error_sd) is scaled to that period by
:func:`protection_sd`, which allows for errors that share one level estimate.

Daily (issue 15): :func:`simulate_daily` runs an (s, S) policy with lost sales day by day, with
levels from history alone (:func:`minmax_levels`) or from rolling forecasts and their bands
(:func:`forecast_cover`, :func:`forecast_levels`); :func:`trace_tradeoff` and :func:`at_stock`
compare two policies at the same average stock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist

import numpy as np

from forecast.types import Forecast, Plan, Series


def service_z(service_level: float) -> float:
    """Return the standard-normal quantile of a cycle service level (0 below 50%)."""
    level = min(max(float(service_level), 0.5), 0.9999)
    return NormalDist().inv_cdf(level)


def demand_over(mean: Sequence[float], weeks: float) -> float:
    """Return forecast demand over the next ``weeks`` (fractional weeks pro rata)."""
    if weeks <= 0:
        return 0.0
    values = list(mean)
    if not values:
        return 0.0
    tail = float(np.mean(values[-4:]))  # beyond the horizon: the last month's rate
    total, whole = 0.0, math.floor(weeks)
    for i in range(whole):
        total += values[i] if i < len(values) else tail
    part = weeks - whole
    if part > 0:
        total += part * (values[whole] if whole < len(values) else tail)
    return total


def round_order(quantity: float, pack_size: float, min_order: float) -> float:
    """Return ``quantity`` raised to the minimum order and rounded up to whole packs (0 stays 0)."""
    if quantity <= 0:
        return 0.0
    quantity = max(quantity, min_order)
    pack = pack_size if pack_size > 0 else 1.0
    return math.ceil(quantity / pack - 1e-9) * pack


def _level_weight(forecast: Forecast) -> float:
    """Infer the model's level-smoothing weight from how fast its band widens (ANN: 1 + (k-1)α²)."""
    if len(forecast.hi80) < 2:
        return 0.0
    w1 = forecast.hi80[0] - forecast.mean[0]
    w2 = forecast.hi80[1] - forecast.mean[1]
    if w1 <= 1e-9 or w2 <= w1:
        return 0.0
    return min(1.0, math.sqrt((w2 / w1) ** 2 - 1))


def protection_sd(forecast: Forecast, weeks: float) -> float:
    """Return the sd of total forecast error over ``weeks`` (not just error_sd × √weeks).

    Errors of a smoothing forecast share the level error, so they add up faster than
    independent ones: with level weight α, the k-th week's error carries α × every earlier
    shock, and the level itself is off by about σ²·α/(2−α). Seasonal naive (α = 0) keeps √weeks.
    """
    if weeks <= 0 or forecast.error_sd <= 0:
        return 0.0
    alpha = _level_weight(forecast)

    def var(p: int) -> float:
        shocks = sum((1 + alpha * j) ** 2 for j in range(p))
        return shocks + p * p * alpha / (2 - alpha)

    lo = math.floor(weeks)
    frac = weeks - lo
    v = var(lo) + frac * (var(lo + 1) - var(lo)) if frac else var(lo)
    return forecast.error_sd * math.sqrt(v)


def plan_replenishment(
    forecast: Forecast,
    *,
    on_hand: float,
    on_order: float,
    lead_time_weeks: float,
    service_level: float = 0.95,
    review_weeks: float = 1,
    pack_size: float = 1,
    min_order: float = 0,
) -> Plan:
    """Return safety stock, reorder point and the order to place now for one item × site."""
    lead = max(0.0, float(lead_time_weeks))
    protection = lead + max(0.0, float(review_weeks))
    z = service_z(service_level)
    safety = max(0.0, z * protection_sd(forecast, protection))
    cover = demand_over(forecast.mean, protection)
    reorder_point = cover + safety
    position = on_hand + on_order
    need = reorder_point - position
    quantity = round_order(need, pack_size, min_order) if need > 1e-9 else 0.0
    if quantity > 0:
        reason = (
            f"在库 {on_hand:g} + 在途 {on_order:g} = {position:g}，低于再订货点 {reorder_point:.1f}"
            f"（{protection:g} 周需求 {cover:.1f} + 安全库存 {safety:.1f}），"
            f"按包装 {pack_size:g}、起订量 {min_order:g} 取整后订货 {quantity:g}。"
        )
    else:
        reason = f"在库 {on_hand:g} + 在途 {on_order:g} = {position:g}，不低于再订货点 {reorder_point:.1f}，暂不订货。"
    return Plan(
        key=forecast.key,
        safety_stock=round(safety, 4),
        reorder_point=round(reorder_point, 4),
        order_quantity=quantity,
        expected_demand_lead_time=round(demand_over(forecast.mean, lead), 4),
        service_level=service_level,
        lead_time_weeks=lead,
        reason=reason,
    )


@dataclass(frozen=True)
class Projection:
    """Stock week by week if a plan is followed (what the sandbox shows beside its figures)."""

    stock: tuple[float, ...]  #: end-of-week stock on hand per horizon week
    stockout_weeks: int  #: weeks whose forecast demand is not fully met from stock
    arrival_week: int  #: horizon week (0 = this week) the order placed now arrives; ≥ horizon: not in view
    average_stock: float  #: mean end-of-week stock over the horizon


def project_stock(mean: Sequence[float], *, on_hand: float, on_order: float, order_quantity: float,
                  lead_time_weeks: float) -> Projection:
    """Project end-of-week stock over the forecast horizon if the plan is followed.

    What is already on order arrives this week (its date is not known; this is the optimistic
    reading, so a stock-out shown is a real one); the order placed now arrives after the lead time
    (lead 0 → this week, 1 → next week, 1.5 → the week after). Demand the stock cannot meet is lost,
    so stock never goes below 0, and that week counts as a stock-out.
    """
    arrival = max(0, math.ceil(float(lead_time_weeks) - 1e-9))
    stock, level, short = [], max(0.0, float(on_hand)), 0
    for n, demand in enumerate(mean):
        if n == 0:
            level += max(0.0, float(on_order))
        if n == arrival:
            level += max(0.0, float(order_quantity))
        if float(demand) - level > 1e-9:
            short += 1
        level = max(0.0, level - float(demand))
        stock.append(level)
    average = sum(stock) / len(stock) if stock else 0.0
    return Projection(tuple(stock), short, arrival, average)


@dataclass
class PolicyResult:
    """Outcome of one policy over all simulated item × site weeks."""

    policy: str
    stockout_rate: float  #: share of weeks with unmet demand
    average_stock: float  #: mean end-of-week stock on hand
    fill_rate: float  #: share of demand served from stock
    orders: int
    per_series: dict[str, dict[str, float]] = field(default_factory=dict)
    scale: float = 1.0  #: factor on the min and max levels (min/max policies only)


@dataclass
class SimulationResult:
    """Both policies on the same demand; min/max also re-run at the forecast policy's stock."""

    forecast: PolicyResult
    minmax: PolicyResult  #: static textbook levels at the same service level
    minmax_same_stock: PolicyResult  #: min/max levels scaled to hold the forecast policy's average stock
    weeks: int
    series: int


@dataclass
class _State:
    on_hand: float
    pipeline: list[tuple[int, float]] = field(default_factory=list)
    stockouts: int = 0
    stock_sum: float = 0.0
    served: float = 0.0
    demanded: float = 0.0
    orders: int = 0
    sales: list[float] = field(default_factory=list)
    censored: list[bool] = field(default_factory=list)

    def week(self, t: int, demand: float) -> None:
        arrived = sum(q for due, q in self.pipeline if due == t)
        self.pipeline = [(due, q) for due, q in self.pipeline if due != t]
        self.on_hand += arrived
        sold = min(self.on_hand, demand)
        short = demand - sold > 1e-9
        self.stockouts += int(short)
        self.on_hand -= sold
        self.stock_sum += self.on_hand
        self.served += sold
        self.demanded += demand
        self.sales.append(sold)
        self.censored.append(short)  # what the shop sees: sales, and that it ran out

    def order(self, t: int, quantity: float, lead: int) -> None:
        if quantity > 0:
            self.pipeline.append((t + lead + 1, quantity))  # usable after ``lead`` full weeks
            self.orders += 1

    @property
    def on_order(self) -> float:
        return sum(q for _, q in self.pipeline)


def _result(name: str, keys: list[str], states: list[_State], weeks: int) -> PolicyResult:
    total = max(1, weeks * len(states))
    demanded = sum(s.demanded for s in states)
    return PolicyResult(
        policy=name,
        stockout_rate=sum(s.stockouts for s in states) / total,
        average_stock=sum(s.stock_sum for s in states) / total,
        fill_rate=sum(s.served for s in states) / demanded if demanded > 0 else 1.0,
        orders=sum(s.orders for s in states),
        per_series={
            k: {"stockout_rate": s.stockouts / max(1, weeks), "average_stock": s.stock_sum / max(1, weeks)}
            for k, s in zip(keys, states, strict=True)
        },
    )


def simulate_policy(
    series: Sequence[Series],
    *,
    demand: Sequence[Sequence[float]] | None = None,
    warmup_weeks: int = 104,
    lead_time_weeks: int = 2,
    review_weeks: int = 1,
    service_level: float = 0.95,
    pack_size: float = 1,
    min_order: float = 0,
    refit_every: int = 4,
    min_weeks: float | None = None,
    max_weeks: float | None = None,
    season_length: int = 52,
    method: str = "auto",
    use_holidays: bool = True,
) -> SimulationResult:
    """Simulate a forecast-driven policy against a fixed min/max policy on the same demand.

    ``demand`` is the true weekly demand per series (default: the recorded values). Weeks before
    ``warmup_weeks`` are history; afterwards each policy serves demand from its own stock and
    the forecast-driven one re-forecasts every ``refit_every`` weeks from the sales it observed
    (its stockout weeks marked censored). Min/max uses the warm-up average demand: order up to
    ``max_weeks`` of it when stock position falls to ``min_weeks`` (defaults: lead + review + 1,
    and that + 4 weeks), which is how such levels are usually set by hand.
    """
    from forecast.engine import forecast_series  # the engine is heavy; the plan maths is not

    lead, review = int(lead_time_weeks), max(1, int(review_weeks))
    truth = [np.asarray(d, dtype=float) for d in demand] if demand is not None else [
        np.asarray(s.values, dtype=float) for s in series
    ]
    end = min(len(d) for d in truth)
    weeks = max(0, end - warmup_weeks)
    keys = [s.key for s in series]
    averages, lows, highs = [], [], []
    z = service_z(service_level)
    for s in series:
        hist = np.asarray(s.values[:warmup_weeks], dtype=float)
        ok = ~np.asarray(s.censored[:warmup_weeks], dtype=bool) if s.censored else np.ones(len(hist), bool)
        ok &= np.isfinite(hist)
        avg = float(hist[ok].mean()) if ok.any() else 0.0
        sd = float(hist[ok].std()) if ok.sum() > 1 else 0.0
        averages.append(avg)
        if min_weeks is not None:
            lows.append(avg * min_weeks)
            highs.append(avg * (max_weeks if max_weeks is not None else min_weeks + 2))
        else:
            lows.append(avg * (lead + review) + z * sd * math.sqrt(lead + review))
            highs.append(lows[-1] + avg * (max_weeks if max_weeks is not None else 2))
    start_stock = [a * (lead + review + 1) for a in averages]
    fc_states = [_State(on_hand=x) for x in start_stock]
    horizon = refit_every + lead + review + 1
    current: list[Forecast] = []
    made_at = warmup_weeks
    for t in range(warmup_weeks, end):
        for i in range(len(series)):
            fc_states[i].week(t, float(truth[i][t]))
        if (t - warmup_weeks) % review:
            continue
        if not current or t - made_at >= refit_every:
            history = []
            for s, st in zip(series, fc_states, strict=True):
                values = list(s.values[:warmup_weeks]) + st.sales
                cens = (list(s.censored[:warmup_weeks]) or [False] * warmup_weeks) + st.censored
                promo = list(s.promo[: t + 1]) if s.promo else []
                history.append(replace(s, values=tuple(values), censored=tuple(cens), promo=tuple(promo)))
            future = {s.key: list(s.promo[t + 1 : t + 1 + horizon]) for s in series if s.promo}
            current = forecast_series(
                history, horizon, method=method, season_length=season_length, future_promo=future,
                use_holidays=use_holidays,
            )
            made_at = t
        age = t - made_at
        for i, fc in enumerate(current):
            aged = replace(fc, mean=fc.mean[age:], weeks=fc.weeks[age:])
            st = fc_states[i]
            plan = plan_replenishment(
                aged, on_hand=st.on_hand, on_order=st.on_order, lead_time_weeks=lead,
                service_level=service_level, review_weeks=review, pack_size=pack_size, min_order=min_order,
            )
            st.order(t, plan.order_quantity, lead)
    forecast = _result("forecast", keys, fc_states, weeks)

    def minmax(scale: float) -> list[_State]:
        states = [_State(on_hand=x) for x in start_stock]
        for t in range(warmup_weeks, end):
            for i, mm in enumerate(states):
                mm.week(t, float(truth[i][t]))
                if (t - warmup_weeks) % review:
                    continue
                position = mm.on_hand + mm.on_order
                if position <= lows[i] * scale:
                    mm.order(t, round_order(highs[i] * scale - position, pack_size, min_order), lead)
        return states

    # min/max again, its levels scaled (bisection) until it holds as much stock as the forecast
    # policy: the fair question is who runs out less often on the same inventory
    lo_s, hi_s = 0.05, 4.0
    for _ in range(30):
        mid = (lo_s + hi_s) / 2
        stock = _result("minmax", keys, minmax(mid), weeks).average_stock
        lo_s, hi_s = (mid, hi_s) if stock < forecast.average_stock else (lo_s, mid)
    matched = _result("minmax_same_stock", keys, minmax((lo_s + hi_s) / 2), weeks)
    matched.scale = (lo_s + hi_s) / 2
    return SimulationResult(
        forecast=forecast,
        minmax=_result("minmax", keys, minmax(1.0), weeks),
        minmax_same_stock=matched,
        weeks=weeks,
        series=len(series),
    )


# --- daily simulation: textbook min/max against forecast-driven order-up-to ----------------------
#
# One day, in this order: (1) on a review day the planner looks at the stock position (on hand +
# everything on order) and, if it is at or below the reorder point, orders up to the order-up-to
# level; the order is on the shelf ``lead`` days later, before that day's sales (lead 2: ordered on
# Monday morning, sold from on Wednesday); (2) whatever is due today arrives; (3) the day's demand is
# served from stock and what cannot be served is lost. A stock-out day is a day with unmet demand.
# An order placed on day t must therefore cover days t … t+lead+review−1: the protection period
# is lead + review days.
#
# Everything is vectorised over a batch of rows (series, or series × policy parameter), so a policy's
# whole trade-off curve is one call.


@dataclass(frozen=True)
class DailySimulation:
    """Day-by-day outcome of :func:`simulate_daily`; every array is (rows, days)."""

    demand: np.ndarray
    on_hand: np.ndarray  #: end-of-day stock on hand (never negative)
    sold: np.ndarray
    lost: np.ndarray  #: demand that stock could not meet (lost sales)
    ordered: np.ndarray  #: quantity ordered at each day's review
    arrived: np.ndarray  #: quantity put on the shelf each morning

    @property
    def stockout_days(self) -> np.ndarray:
        """Days with unmet demand, per row."""
        return (self.lost > 1e-9).sum(axis=-1)

    @property
    def average_stock(self) -> np.ndarray:
        """Mean end-of-day stock on hand, per row (units)."""
        return self.on_hand.mean(axis=-1)

    @property
    def fill_rate(self) -> np.ndarray:
        """Share of demand served from stock, per row (1 where there was no demand)."""
        demanded = self.demand.sum(axis=-1)
        served = self.sold.sum(axis=-1)
        return np.divide(served, demanded, out=np.ones_like(served), where=demanded > 0)


def simulate_daily(
    demand: np.ndarray,
    reorder_point: np.ndarray | float,
    order_up_to: np.ndarray | float,
    *,
    lead_time_days: int = 2,
    review_days: int = 1,
    initial_stock: np.ndarray | float | None = None,
) -> DailySimulation:
    """Simulate a periodic-review (s, S) policy with lost sales over ``demand`` (rows × days).

    ``reorder_point`` (s) and ``order_up_to`` (S) broadcast to demand's shape, so they may change
    day by day (a forecast-driven policy) or stay put (textbook min/max); on review days (every
    ``review_days`` from day 0) a row whose position is ≤ s orders S − position. Stock starts at
    ``initial_stock`` (default: day 0's S) with nothing on order.
    """
    d = np.atleast_2d(np.asarray(demand, dtype="float64"))
    if not np.isfinite(d).all() or (d < 0).any():
        raise ValueError("demand must be finite and non-negative")
    lead, review = int(lead_time_days), int(review_days)
    if lead < 0 or review < 1:
        raise ValueError("lead_time_days must be ≥ 0 and review_days ≥ 1")
    rows, days = d.shape
    low = np.broadcast_to(np.asarray(reorder_point, dtype="float64"), d.shape)
    high = np.broadcast_to(np.asarray(order_up_to, dtype="float64"), d.shape)
    if initial_stock is None:
        start = high[:, 0]
    else:
        start = np.broadcast_to(np.asarray(initial_stock, dtype="float64"), (rows,))
    level = np.maximum(start, 0.0).copy()
    due = np.zeros((rows, days + lead + 1))  # quantity arriving each morning (past the end: never)
    on_order = np.zeros(rows)
    out = {name: np.zeros((rows, days)) for name in ("on_hand", "sold", "lost", "ordered", "arrived")}
    for t in range(days):
        if t % review == 0:
            position = level + on_order
            qty = np.where(position <= low[:, t] + 1e-9, np.maximum(high[:, t] - position, 0.0), 0.0)
            due[:, t + lead] += qty
            on_order += qty
            out["ordered"][:, t] = qty
        came = due[:, t]
        level += came
        on_order -= came
        sold = np.minimum(level, d[:, t])
        level -= sold
        out["arrived"][:, t] = came
        out["sold"][:, t] = sold
        out["lost"][:, t] = d[:, t] - sold
        out["on_hand"][:, t] = level
    return DailySimulation(demand=d, **out)


def minmax_levels(
    history: np.ndarray,
    k: float,
    *,
    lead_time_days: int = 2,
    review_days: int = 1,
    max_multiplier: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Textbook min/max from history alone: (s, S) per row of ``history`` (rows × past days).

    s = μ·P + k·σ·√P over the protection period P = lead + review days (μ, σ: mean and sd of
    daily demand in the history), S = s + ``max_multiplier``·μ·review: no weekday pattern, no
    promotions, no holidays, which is how such levels are set by hand.
    """
    h = np.atleast_2d(np.asarray(history, dtype="float64"))
    mu = np.nanmean(h, axis=1)
    sigma = np.nanstd(h, axis=1, ddof=1) if h.shape[1] > 1 else np.zeros(h.shape[0])
    protection = lead_time_days + review_days
    low = np.maximum(mu * protection + k * sigma * math.sqrt(protection), 0.0)
    high = low + max(0.0, max_multiplier) * mu * review_days
    return low, high


#: Standard-normal quantile of the upper edge of an 80 % central band.
Z80 = NormalDist().inv_cdf(0.9)


def forecast_cover(
    origins: Sequence[int],
    means: Sequence[np.ndarray],
    upper80: Sequence[np.ndarray],
    *,
    days: int,
    protection_days: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast demand over the protection period from each day, and its sd: two (rows, days) arrays.

    ``origins[j]`` is the first day forecast ``j`` covers (it was made from the history before it);
    ``means[j]`` and ``upper80[j]`` are (rows, horizon): the mean path and the upper edge of its
    80 % band. Day t uses the latest forecast with origin ≤ t, steps t−origin … t−origin+P−1 (past
    the horizon: the last step). A step's sd is the upper half-width of its 80 % band ÷ z(0.9)
    (the upper side is what runs a shelf empty), and steps add as independent errors.
    """
    if not origins or origins[0] > 0:
        raise ValueError("the first forecast must start on or before day 0")
    rows = means[0].shape[0]
    cover = np.zeros((rows, days))
    sd = np.zeros((rows, days))
    for j, origin in enumerate(origins):
        stop = origins[j + 1] if j + 1 < len(origins) else days
        mean = np.asarray(means[j], dtype="float64")
        step_sd = np.maximum(np.asarray(upper80[j], dtype="float64") - mean, 0.0) / Z80
        horizon = mean.shape[1]
        for t in range(max(origin, 0), min(stop, days)):
            steps = np.minimum(np.arange(t - origin, t - origin + protection_days), horizon - 1)
            cover[:, t] = mean[:, steps].sum(axis=1)
            sd[:, t] = np.sqrt((step_sd[:, steps] ** 2).sum(axis=1))
    return cover, sd


@dataclass(frozen=True)
class TradeOff:
    """One policy's curve over its parameter: each array has one entry per parameter value."""

    policy: str
    params: np.ndarray
    stock_days: np.ndarray  #: mean over series of average stock ÷ mean daily demand
    stockout_days: np.ndarray  #: mean over series of stock-out days in the period
    fill_rate: np.ndarray  #: mean over series of the share of demand served


def trace_tradeoff(
    policy: str,
    demand: np.ndarray,
    levels: Sequence[tuple[np.ndarray, np.ndarray]],
    params: Sequence[float] | np.ndarray,
    *,
    lead_time_days: int = 2,
    review_days: int = 1,
) -> TradeOff:
    """Simulate ``levels[p]`` = (s, S), each broadcastable to demand (series × days), in one batch.

    Stock is put in days of each series' mean demand before averaging over series, so a big
    series does not outweigh the rest (series with no demand are left out of the stock figure).
    """
    d = np.atleast_2d(np.asarray(demand, dtype="float64"))
    n = d.shape[0]
    lows = np.concatenate([np.broadcast_to(s, d.shape) for s, _ in levels])
    highs = np.concatenate([np.broadcast_to(S, d.shape) for _, S in levels])
    sim = simulate_daily(
        np.tile(d, (len(levels), 1)), lows, highs, lead_time_days=lead_time_days, review_days=review_days
    )
    rate = d.mean(axis=1)
    live = rate > 0
    stock = (sim.average_stock.reshape(len(levels), n)[:, live] / rate[live]).mean(axis=1)
    return TradeOff(
        policy=policy,
        params=np.asarray(params, dtype="float64"),
        stock_days=stock,
        stockout_days=sim.stockout_days.reshape(len(levels), n).mean(axis=1).astype("float64"),
        fill_rate=sim.fill_rate.reshape(len(levels), n).mean(axis=1),
    )


def interpolate_at(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """Return y at x = ``target`` by linear interpolation along the curve sorted by x.

    NaN outside the curve's range (no extrapolation: a figure must come from simulated points).
    Points with equal x are averaged first.
    """
    xs, ys = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    if xs.size == 0 or target < xs.min() - 1e-12 or target > xs.max() + 1e-12:
        return float("nan")
    ux, inverse = np.unique(xs, return_inverse=True)
    uy = np.bincount(inverse, weights=ys) / np.bincount(inverse)
    return float(np.interp(target, ux, uy))


def at_stock(curve: TradeOff, stock_days: float) -> dict[str, float]:
    """The curve's stock-out days, fill rate and parameter at the given average stock (interpolated)."""
    return {
        "stock_days": stock_days,
        "stockout_days": interpolate_at(curve.stock_days, curve.stockout_days, stock_days),
        "fill_rate": interpolate_at(curve.stock_days, curve.fill_rate, stock_days),
        "param": interpolate_at(curve.stock_days, curve.params, stock_days),
    }


def forecast_levels(
    cover: np.ndarray,
    sd: np.ndarray,
    z: float,
    *,
    protection_days: int,
    review_days: int = 1,
    max_multiplier: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast-driven (s, S) from :func:`forecast_cover`: s = cover + z·sd, S = s + multiplier × the
    forecast's mean daily rate × review (0: order up to s at every review, a base-stock policy)."""
    low = np.maximum(np.asarray(cover, dtype="float64") + z * np.asarray(sd, dtype="float64"), 0.0)
    rate = np.asarray(cover, dtype="float64") / max(1, protection_days)
    return low, low + max(0.0, max_multiplier) * rate * review_days
