"""The bias-attribution board (偏差归因): after a week closes, forecast against actual per item × site,
each notable miss attributed to recorded events, and the planners' overrides' track record.

The forecast of an item × site for a week is the line of the latest completed run that covers that
week (its planned ``final`` and the model's own ``mean``); the actual is the week's sales as the
planning engine reads demand history (``models.demand.weekly_demand``, the same figures a forecast
learns from). error = forecast − actual (positive: over-forecast, 高估); percentage error = error ÷
actual (None when nothing sold).

A miss is notable when |error| ≥ ``min_error`` (base unit) and |error| ≥ 20 % of the actual (any
error when nothing sold). Its candidate causes, each found in recorded data:

- ``promotion`` 促销执行偏差: a promotion known when the run was made (created before it, not yet
  cancelled) that did not run on some of its days that week (cancelled), or one that ran that week but
  was recorded only after the run (the forecast could not know it);
- ``stockout`` 缺货截断需求: days of the week whose closing on-hand was ≤ 0 (the demand history's own
  stock-out days): sales are a lower bound of demand;
- ``transfer_late`` 调拨晚到: a transfer into the site carrying the item that arrived after its
  expected time (dispatch + the route's transit hours) or, on a route with no declared time, was in
  transit during the week — the part of that lateness inside the week counts;
- ``weather`` 天气偏离: an organisation covariate whose value that week was far from the value used at
  forecast time — the line's ``explanation["covariates"]`` when the engine recorded it, else the
  covariate series named ``<name>预报`` (the forecast the planner uploaded beside the actuals); skipped
  when neither is recorded;
- ``override`` 人工调整变差: the line's override made |final − actual| larger than |model − actual|.

Score (ranks the causes of one miss, 0–1): the share of the miss the cause could account for,
min(1, explained ÷ |error|), where ``explained`` is the quantity the event plausibly moved (a promotion:
uplift × its days ÷ 7 × the model's figure; a stock-out or a late transfer: the forecast's share of the
days affected, a transfer capped at its quantity; an override: the error it added). A cause pushing
the other way than the miss counts a quarter. Weather has no quantity and no known direction: 0.5 ×
min(1, z ÷ 3), z being the gap in standard deviations of the covariate's recent daily values.

Override track record: every override whose weeks all ended by the chosen week's end, with the score
``score_overrides`` stored (or, not yet stored, the same ``score_one`` computed now, read only).

Requires ``Permission.PLAN``; reads only the actor's organisation (and only the sites where the actor
plans). Writes nothing.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.base import utcnow
from models.catalog import Item
from models.demand import DemandWeek, daily_demand, local_date_today, weekly_demand
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import ValidationError
from models.operations.forecast_overrides import score_one
from models.org import Member, Site
from models.planning import CovariateValue, ForecastLine, ForecastOverride, ForecastRun, Promotion, RunStatus
from models.stock import StockMove
from models.timeutil import SHANGHAI, local_date, week_start

ZERO = Decimal(0)
#: A miss must be at least this share of the actual to be attributed.
MIN_SHARE = Decimal("0.2")
#: Default smallest |error| (base unit) worth attributing.
MIN_ERROR = Decimal(1)
#: Misses shown, largest |error| first.
MAX_MISSES = 100
#: Overrides in the track record (newest first).
MAX_OVERRIDES = 100
#: Closed weeks offered by the week picker.
PICKER_WEEKS = 12
#: A covariate this many standard deviations from its forecast value is "far".
WEATHER_Z = 1.5
#: A cause that pushes the other way than the miss keeps this share of its score.
AGAINST = 0.25
#: The suffix of a covariate series holding the forecast of another one ("气温预报" for "气温").
FORECAST_SUFFIX = "预报"

LABELS = {"promotion": "促销执行偏差", "stockout": "缺货截断需求", "transfer_late": "调拨晚到",
          "weather": "天气偏离", "override": "人工调整变差"}
_ORDER = list(LABELS)


@dataclass(frozen=True)
class Cause:
    code: str
    label: str
    #: 0–1; see the module docstring.
    score: float
    #: The quantity (base unit) this event could account for; None when it has none (weather).
    explained: Decimal | None
    evidence: str
    #: What the evidence refers to (promotion_id, document_id and number, override_id, covariate …).
    refs: dict[str, Any]


@dataclass(frozen=True)
class Miss:
    item_id: int
    item_code: str
    item_name: str
    unit: str
    site_id: int
    site_name: str
    run_id: int
    #: The planned figure (after overrides) and the model's own.
    forecast: Decimal
    model: Decimal
    actual: Decimal
    #: forecast − actual
    error: Decimal
    #: error ÷ actual (None when nothing sold)
    pct_error: float | None
    #: "over" (高估) or "under" (低估)
    bias: str
    bias_label: str
    override_id: int | None
    stockout_days: int
    #: Ranked, best first (empty: nothing recorded explains it).
    causes: list[Cause]


@dataclass(frozen=True)
class OverrideTrack:
    override_id: int
    item_id: int
    item_name: str
    site_id: int
    site_name: str
    from_week: date
    weeks: int
    reason: str
    created_by_name: str
    mae_model: float | None
    mae_final: float | None
    #: mae_final − mae_model (negative: the override beat the model)
    mae_change: float | None
    #: helped / hurt / neutral / unscored
    verdict: str
    summary: str


@dataclass(frozen=True)
class OverrideRecord:
    #: Overrides with a verdict (weeks closed and lines to compare).
    count: int
    better: int
    worse: int
    share_better: float | None
    #: Mean of mae_final − mae_model over those overrides.
    mean_mae_change: float | None
    rows: list[OverrideTrack]


@dataclass(frozen=True)
class BiasBoard:
    week: date
    week_end: date
    #: Item × site lines of the week compared.
    compared: int
    total_forecast: Decimal
    total_actual: Decimal
    misses: list[Miss]
    #: Notable misses beyond the ones listed.
    more: int
    overrides: OverrideRecord
    #: Closed weeks for the picker, newest first.
    weeks: list[date]


def last_closed_week(today: date | None = None) -> date:
    """Return the Monday of the last full (Asia/Shanghai) week."""
    return week_start(today or local_date_today()) - timedelta(days=7)


def closed_week(week: date | None, today: date | None = None) -> date:
    """Return ``week`` (a Monday of a week that has closed), default the last full week; else ValidationError."""
    last = last_closed_week(today)
    if week is None:
        return last
    if week.weekday() != 0:
        raise ValidationError("请选择某一周的周一", field="week")
    if week > last:
        raise ValidationError("该周尚未结束，结束后才能比较预测与实际", field="week")
    if week < date(2000, 1, 3):
        raise ValidationError("日期太早", field="week")
    return week


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


def _fmt(value: Decimal | float) -> str:
    text = format(Decimal(str(value)).quantize(Decimal("0.1")).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _score(explained: Decimal, error: Decimal, with_miss: bool) -> float:
    share = min(Decimal(1), explained / abs(error)) if error else Decimal(0)
    return round(float(share) * (1.0 if with_miss else AGAINST), 3)


def _days_in(first: date, last: date, week: date) -> int:
    lo, hi = max(first, week), min(last, week + timedelta(days=6))
    return max((hi - lo).days + 1, 0)


# -- causes -------------------------------------------------------------------------------------


def _promotion_causes(line: ForecastLine, run: ForecastRun, promos: list[Promotion], error: Decimal,
                      week: date) -> list[Cause]:
    out = []
    made = run.created_at
    for p in promos:
        if p.item_id != line.item_id or p.site_id not in (None, line.site_id):
            continue
        planned_days = _days_in(p.starts_on, p.ends_on, week)
        if not planned_days:
            continue
        last_day = p.ends_on if p.cancelled_at is None else min(p.ends_on, local_date(p.cancelled_at) - timedelta(1))
        run_days = _days_in(p.starts_on, last_day, week)
        known = p.created_at <= made and (p.cancelled_at is None or p.cancelled_at > made)
        name = f"「{p.note}」" if p.note else f"#{p.id}"
        uplift = p.uplift
        if known and run_days < planned_days:
            missing = planned_days - run_days
            explained = abs(uplift) * missing / 7 * line.mean
            # A lift that did not happen: the forecast was too high (a planned cut: too low).
            with_miss = (error > 0) == (uplift > 0)
            when = local_date(p.cancelled_at).isoformat() if p.cancelled_at else "—"
            evidence = (f"促销{name}原定 {p.starts_on.isoformat()} 至 {p.ends_on.isoformat()}（预计提升 "
                        f"{uplift * 100:.0f}%），预测时已计入，但于 {when} 取消，本周有 {missing} 天未执行")
        elif not known and run_days and p.created_at > made:
            explained = abs(uplift) * run_days / 7 * line.mean
            with_miss = (error < 0) == (uplift > 0)
            evidence = (f"促销{name}在预测之后（{local_date(p.created_at).isoformat()}）才录入，本周执行了 "
                        f"{run_days} 天（预计提升 {uplift * 100:.0f}%），预测未计入")
        else:
            continue
        out.append(Cause("promotion", LABELS["promotion"], _score(explained, error, with_miss),
                         explained.quantize(Decimal("0.001")), evidence, {"promotion_id": p.id}))
    return out


def _stockout_cause(line: ForecastLine, actual: DemandWeek | None, days: list[date], error: Decimal) -> list[Cause]:
    if actual is None or not actual.stockout_days:
        return []
    n = actual.stockout_days
    explained = line.final * n / 7
    listed = "、".join(f"{d.month}月{d.day}日" for d in days) or f"{n} 天"
    evidence = f"本周有 {n} 天库存为零（{listed}），实际销量被缺货截断，真实需求可能更高"
    return [Cause("stockout", LABELS["stockout"], _score(explained, error, error > 0),
                  explained.quantize(Decimal("0.001")), evidence, {"days": [d.isoformat() for d in days]})]


@dataclass(frozen=True)
class _Transfer:
    document_id: int
    number: str
    item_id: int
    to_site_id: int
    quantity: Decimal
    dispatched: datetime
    arrived: datetime | None
    expected: datetime | None


def _transfers(session: Session, org_id: int, keys: set[tuple[int, int]], week: date) -> list[_Transfer]:
    """Transfers into the misses' sites carrying their items, dispatched before the week ended."""
    if not keys:
        return []
    items, sites = {i for i, _ in keys}, {s for _, s in keys}
    docs = {d.id: d for d in session.scalars(
        select(Document).join(DocumentLine, DocumentLine.document_id == Document.id).where(
            Document.org_id == org_id, Document.kind == DocKind.TRANSFER, Document.to_site_id.in_(sites),
            Document.status.in_([DocStatus.IN_TRANSIT, DocStatus.RECEIVED]), Document.transit_site_id.is_not(None),
            DocumentLine.item_id.in_(items), Document.business_time < _start(week + timedelta(days=7))))}
    if not docs:
        return []
    hours = {i: h for i, h in session.execute(select(Site.id, Site.transit_hours).where(
        Site.org_id == org_id, Site.id.in_({d.transit_site_id for d in docs.values()})))}
    out_of_transit: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    sent: dict[tuple[int, int], datetime] = {}
    arrived: dict[tuple[int, int], datetime] = {}
    for doc_id, item_id, site_id, when, quantity in session.execute(
            select(StockMove.document_id, StockMove.item_id, StockMove.site_id, StockMove.business_time,
                   StockMove.quantity).where(StockMove.org_id == org_id, StockMove.document_id.in_(list(docs)),
                                             StockMove.item_id.in_(items), StockMove.quantity > 0)):
        doc, key = docs[doc_id], (doc_id, item_id)
        if site_id == doc.transit_site_id:
            out_of_transit[key] += quantity
            sent[key] = min(sent.get(key, when), when)
        elif site_id == doc.to_site_id:
            arrived[key] = min(arrived.get(key, when), when)
    out = []
    for (doc_id, item_id), dispatched in sent.items():
        doc = docs[doc_id]
        if (item_id, doc.to_site_id) not in keys:
            continue
        h = hours.get(doc.transit_site_id or 0)
        out.append(_Transfer(doc_id, doc.number, item_id, int(doc.to_site_id or 0), out_of_transit[(doc_id, item_id)],
                             dispatched, arrived.get((doc_id, item_id)),
                             dispatched + timedelta(hours=h) if h else None))
    return out


def _transfer_causes(line: ForecastLine, transfers: list[_Transfer], error: Decimal, week: date,
                     unit: str) -> list[Cause]:
    out = []
    lo, hi = _start(week), _start(week + timedelta(days=7))
    now = utcnow()
    for t in transfers:
        if (t.item_id, t.to_site_id) != (line.item_id, line.site_id):
            continue
        begin = t.expected or t.dispatched
        end = t.arrived or now
        overlap = (min(end, hi) - max(begin, lo)).total_seconds() / 86400
        if end <= begin or overlap <= 0:
            continue
        explained = min(t.quantity, line.final * Decimal(str(overlap)) / 7)
        if t.expected is not None:
            plan = t.expected.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
            late = (f"实际 {t.arrived.astimezone(SHANGHAI).strftime('%m-%d %H:%M')} 到达"
                    f"（晚 {(t.arrived - t.expected).total_seconds() / 3600:.0f} 小时）" if t.arrived
                    else "本周结束时仍未到达")
            evidence = (f"调拨单 {t.number}（{_fmt(t.quantity)} {unit}）应于 {plan} 到达，{late}，"
                        f"本周缺这批货 {overlap:.1f} 天")
        else:
            sent = t.dispatched.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
            evidence = (f"调拨单 {t.number}（{_fmt(t.quantity)} {unit}）{sent} 发出，本周在途 {overlap:.1f} 天"
                        "（该路线未设在途时间）")
        out.append(Cause("transfer_late", LABELS["transfer_late"], _score(explained, error, error > 0),
                         explained.quantize(Decimal("0.001")), evidence,
                         {"document_id": t.document_id, "number": t.number}))
    return out


@dataclass(frozen=True)
class _Covariates:
    #: name → day → value (the actuals, and the "<name>预报" forecasts)
    values: dict[str, dict[date, float]]


def _covariates(session: Session, org_id: int, week: date) -> _Covariates:
    since = week - timedelta(days=7 * 8)
    values: dict[str, dict[date, float]] = defaultdict(dict)
    for name, day, value in session.execute(select(CovariateValue.name, CovariateValue.day, CovariateValue.value)
                                            .where(CovariateValue.org_id == org_id, CovariateValue.day >= since,
                                                   CovariateValue.day <= week + timedelta(days=6))):
        values[name][day] = float(value)
    return _Covariates(dict(values))


def _weather_causes(line: ForecastLine, cov: _Covariates, week: date) -> list[Cause]:
    days = [week + timedelta(days=n) for n in range(7)]
    used = (line.explanation or {}).get("covariates")
    used = used if isinstance(used, dict) else {}
    out = []
    for name, series in cov.values.items():
        if name.endswith(FORECAST_SUFFIX):
            continue
        now = [series[d] for d in days if d in series]
        if not now:
            continue
        if isinstance(used.get(name), int | float):
            then, source = float(used[name]), "预测时使用"
        else:
            fc = cov.values.get(name + FORECAST_SUFFIX, {})
            planned = [fc[d] for d in days if d in fc]
            if not planned:
                continue  # the value used at forecast time is not recorded: nothing to compare
            then, source = statistics.fmean(planned), "预报"
        actual = statistics.fmean(now)
        gap = actual - then
        history = [v for d, v in series.items() if d < week]
        sd = statistics.pstdev(history) if len(history) >= 5 else 0.0
        # No spread to measure against: a 20 % gap counts as far.
        relative = WEATHER_Z * abs(gap) / (0.2 * abs(then)) if then else 0.0
        z = abs(gap) / sd if sd > 0 else relative
        if z < WEATHER_Z:
            continue
        evidence = (f"{name}：本周实际平均 {actual:.1f}，{source} {then:.1f}（相差 {gap:+.1f}"
                    + (f"，约 {z:.1f} 个标准差）" if sd > 0 else "）"))
        out.append(Cause("weather", LABELS["weather"], round(0.5 * min(1.0, z / 3), 3), None, evidence,
                         {"covariate": name, "actual": round(actual, 3), "forecast": round(then, 3)}))
    return out


def _override_cause(line: ForecastLine, ov: ForecastOverride | None, actual: Decimal, error: Decimal,
                    unit: str) -> list[Cause]:
    if ov is None:
        return []
    model_miss, final_miss = abs(line.mean - actual), abs(line.final - actual)
    if final_miss <= model_miss:
        return []
    added = final_miss - model_miss
    evidence = (f"人工调整 #{ov.id}（{ov.reason}）把计划从模型的 {_fmt(line.mean)} 改为 {_fmt(line.final)} {unit}，"
                f"误差由 {_fmt(model_miss)} 增至 {_fmt(final_miss)}")
    return [Cause("override", LABELS["override"], _score(added, error, True), added.quantize(Decimal("0.001")),
                  evidence, {"override_id": ov.id})]


def _ranked(causes: list[Cause]) -> list[Cause]:
    return sorted(causes, key=lambda c: (-c.score, _ORDER.index(c.code)))


# -- the board ----------------------------------------------------------------------------------


def _week_lines(session: Session, org_id: int, week: date, sites: set[int] | None) -> list[ForecastLine]:
    """Each item × site's line for ``week`` from the latest completed run that covers it."""
    latest = (select(ForecastLine.item_id, ForecastLine.site_id, func.max(ForecastLine.run_id).label("run_id"))
              .join(ForecastRun, ForecastRun.id == ForecastLine.run_id)
              .where(ForecastLine.org_id == org_id, ForecastLine.week == week, ForecastRun.org_id == org_id,
                     ForecastRun.status == RunStatus.COMPLETED)
              .group_by(ForecastLine.item_id, ForecastLine.site_id)).subquery()
    stmt = select(ForecastLine).join(latest, and_(
        ForecastLine.run_id == latest.c.run_id, ForecastLine.item_id == latest.c.item_id,
        ForecastLine.site_id == latest.c.site_id)).where(ForecastLine.week == week, ForecastLine.org_id == org_id)
    if sites is not None:
        stmt = stmt.where(ForecastLine.site_id.in_(sites))
    return list(session.scalars(stmt.order_by(ForecastLine.item_id, ForecastLine.site_id)))


def _notable(error: Decimal, actual: Decimal, min_error: Decimal) -> bool:
    return abs(error) >= min_error and (actual <= 0 or abs(error) >= MIN_SHARE * actual)


def forecast_bias(session: Session, actor: Actor, *, week: date | None = None, min_error: Decimal = MIN_ERROR,
                  today: date | None = None) -> BiasBoard:
    """The closed ``week`` (a Monday; default the last full week): misses with ranked causes, override record."""
    actor.require(Permission.PLAN)
    week = closed_week(week, today)
    end = week + timedelta(days=6)
    org = actor.org_id
    sites = actor.site_ids(Permission.PLAN)
    lines = _week_lines(session, org, week, sites)
    keys = {(ln.item_id, ln.site_id) for ln in lines}
    weekly = weekly_demand(session, org, item_ids={i for i, _ in keys}, site_ids={s for _, s in keys},
                           end=end) if keys else {}
    actuals = {key: next((w for w in weeks if w.week == week), None) for key, weeks in weekly.items()}
    found = []
    total_forecast = total_actual = ZERO
    for ln in lines:
        got = actuals.get((ln.item_id, ln.site_id))
        actual = got.sale if got else ZERO
        total_forecast += ln.final
        total_actual += actual
        error = ln.final - actual
        if _notable(error, actual, min_error):
            found.append((ln, got, actual, error))
    found.sort(key=lambda f: (-abs(f[3]), f[0].item_id, f[0].site_id))
    shown, more = found[:MAX_MISSES], max(len(found) - MAX_MISSES, 0)
    misses = _attribute(session, org, week, shown)
    return BiasBoard(week, end, len(lines), total_forecast, total_actual, misses, more,
                     override_record(session, actor, week=week, sites=sites),
                     [last_closed_week(today) - timedelta(days=7 * n) for n in range(PICKER_WEEKS)])


def _attribute(session: Session, org: int, week: date,
               shown: list[tuple[ForecastLine, DemandWeek | None, Decimal, Decimal]]) -> list[Miss]:
    if not shown:
        return []
    keys = {(ln.item_id, ln.site_id) for ln, *_ in shown}
    items = {i: (c, n, u) for i, c, n, u in session.execute(select(Item.id, Item.code, Item.name, Item.base_unit)
                                                             .where(Item.org_id == org,
                                                                    Item.id.in_({i for i, _ in keys})))}
    site_names = {i: n for i, n in session.execute(select(Site.id, Site.name).where(
        Site.org_id == org, Site.id.in_({s for _, s in keys})))}
    runs = {r.id: r for r in session.scalars(select(ForecastRun).where(
        ForecastRun.org_id == org, ForecastRun.id.in_({ln.run_id for ln, *_ in shown})))}
    promos = list(session.scalars(select(Promotion).where(
        Promotion.org_id == org, Promotion.item_id.in_({i for i, _ in keys}),
        Promotion.starts_on <= week + timedelta(days=6), Promotion.ends_on >= week)))
    out_keys = {(ln.item_id, ln.site_id) for ln, got, *_ in shown if got and got.stockout_days}
    stockout_days: dict[tuple[int, int], list[date]] = {}
    if out_keys:
        daily = daily_demand(session, org, item_ids={i for i, _ in out_keys}, site_ids={s for _, s in out_keys},
                             end=week + timedelta(days=6))
        stockout_days = {k: [d.day for d in daily.get(k, []) if d.stockout and week <= d.day] for k in out_keys}
    transfers = _transfers(session, org, keys, week)
    overrides = {o.id: o for o in session.scalars(select(ForecastOverride).where(
        ForecastOverride.org_id == org, ForecastOverride.id.in_(
            {ln.override_id for ln, *_ in shown if ln.override_id is not None})))}
    cov = _covariates(session, org, week)
    misses = []
    for ln, got, actual, error in shown:
        key = (ln.item_id, ln.site_id)
        code, name, unit = items.get(ln.item_id, ("", "", ""))
        causes = [*_promotion_causes(ln, runs[ln.run_id], promos, error, week),
                  *_stockout_cause(ln, got, stockout_days.get(key, []), error),
                  *_transfer_causes(ln, transfers, error, week, unit),
                  *_weather_causes(ln, cov, week),
                  *_override_cause(ln, overrides.get(ln.override_id or 0), actual, error, unit)]
        misses.append(Miss(
            item_id=ln.item_id, item_code=code, item_name=name, unit=unit, site_id=ln.site_id,
            site_name=site_names.get(ln.site_id, ""), run_id=ln.run_id, forecast=ln.final, model=ln.mean,
            actual=actual, error=error, pct_error=round(float(error / actual), 4) if actual > 0 else None,
            bias="over" if error > 0 else "under", bias_label="高估" if error > 0 else "低估",
            override_id=ln.override_id, stockout_days=got.stockout_days if got else 0, causes=_ranked(causes)))
    return misses


# -- overrides' track record --------------------------------------------------------------------


def override_record(session: Session, actor: Actor, *, week: date, sites: Iterable[int] | None = None
                    ) -> OverrideRecord:
    """Overrides whose weeks all ended by the end of ``week``: did they beat the model (stored score, else computed)."""
    actor.require(Permission.PLAN)
    org = actor.org_id
    closes = week + timedelta(days=7)
    stmt = (select(ForecastOverride).where(ForecastOverride.org_id == org, ForecastOverride.run_id.is_not(None),
                                           ForecastOverride.from_week < closes)
            .order_by(ForecastOverride.id.desc()))
    if sites is not None:
        stmt = stmt.where(ForecastOverride.site_id.in_(list(sites)))
    chosen = [ov for ov in session.scalars(stmt.limit(MAX_OVERRIDES * 5))
              if ov.from_week + timedelta(days=7 * ov.weeks) <= closes][:MAX_OVERRIDES]
    if not chosen:
        return OverrideRecord(0, 0, 0, None, None, [])
    pending = [ov for ov in chosen if not ov.score or "verdict" not in ov.score]
    computed: dict[int, dict[str, Any]] = {}
    if pending:
        actual = weekly_demand(session, org, item_ids={ov.item_id for ov in pending},
                               site_ids={ov.site_id for ov in pending}, end=closes - timedelta(days=1))
        lines: dict[tuple[int, int, int], dict[date, ForecastLine]] = defaultdict(dict)
        for ln in session.scalars(select(ForecastLine).where(
                ForecastLine.org_id == org, ForecastLine.run_id.in_({ov.run_id for ov in pending}),
                ForecastLine.item_id.in_({ov.item_id for ov in pending}))):
            lines[(ln.run_id, ln.item_id, ln.site_id)][ln.week] = ln
        for ov in pending:
            weeks = {w.week: w for w in actual.get((ov.item_id, ov.site_id), [])}
            computed[ov.id] = score_one(ov, lines.get((ov.run_id or 0, ov.item_id, ov.site_id), {}), weeks)
    items = {i: n for i, n in session.execute(select(Item.id, Item.name).where(
        Item.org_id == org, Item.id.in_({ov.item_id for ov in chosen})))}
    site_names = {i: n for i, n in session.execute(select(Site.id, Site.name).where(
        Site.org_id == org, Site.id.in_({ov.site_id for ov in chosen})))}
    people = {i: n for i, n in session.execute(select(Member.id, Member.name).where(
        Member.org_id == org, Member.id.in_({ov.created_by for ov in chosen if ov.created_by})))}
    rows = []
    for ov in chosen:
        score = computed.get(ov.id) or ov.score or {}
        mae_model, mae_final = score.get("mae_model"), score.get("mae_final")
        change = round(mae_final - mae_model, 3) if mae_model is not None and mae_final is not None else None
        rows.append(OverrideTrack(
            override_id=ov.id, item_id=ov.item_id, item_name=items.get(ov.item_id, ""), site_id=ov.site_id,
            site_name=site_names.get(ov.site_id, ""), from_week=ov.from_week, weeks=ov.weeks, reason=ov.reason,
            created_by_name=people.get(ov.created_by or 0, ""), mae_model=mae_model, mae_final=mae_final,
            mae_change=change, verdict=str(score.get("verdict", "unscored")), summary=str(score.get("summary", ""))))
    judged = [r for r in rows if r.verdict != "unscored" and r.mae_change is not None]
    better = sum(1 for r in judged if r.verdict == "helped")
    worse = sum(1 for r in judged if r.verdict == "hurt")
    return OverrideRecord(
        count=len(judged), better=better, worse=worse,
        share_better=round(better / len(judged), 4) if judged else None,
        mean_mae_change=round(statistics.fmean(r.mae_change for r in judged if r.mae_change is not None), 3)
        if judged else None, rows=rows)
