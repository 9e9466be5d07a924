"""Demand planning over HTTP: history, imports, promotions, covariates, forecasts, overrides, replenishment, sandbox.

A channel: authenticates with the API's bearer token (miniprogram_api.auth), parses, calls one
operation, renders. Errors use the shared shape {"error": {"code", "message", "details"}}.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from flask import Blueprint, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from miniprogram_api.apiutil import dec, reader, transact
from miniprogram_api.jsonfields import (
    date_field,
    decimal_field,
    flag,
    float_field,
    id_list,
    int_field,
    json_object,
    optional_json_object,
)
from models import forecasting
from models.actor import Actor, Permission
from models.demand import daily_demand, weekly_demand
from models.errors import ValidationError
from models.lookup import get_owned
from models.operations.demand_import import ImportDemand, import_demand
from models.operations.forecast_overrides import (
    CancelOverride,
    OverrideForecast,
    ScoreOverrides,
    cancel_override,
    override_forecast,
    score_overrides,
)
from models.operations.planning import (
    CancelPromotion,
    RunForecast,
    SetPlanningSettings,
    SetPromotion,
    UploadCovariate,
    cancel_promotion,
    planning_settings,
    promotion_view,
    run_forecast,
    run_summary,
    set_planning_settings,
    set_promotion,
    upload_covariate,
)
from models.operations.planning_sandbox import PlanningSandbox, SandboxPromotion, run_planning_sandbox
from models.operations.replenishment import (
    AcceptSuggestion,
    DismissSuggestion,
    RecomputeReplenishment,
    accept_suggestion,
    dismiss_suggestion,
    recompute_replenishment,
    suggestion_view,
)
from models.planning import (
    CovariateValue,
    DemandImport,
    ForecastLine,
    ForecastOverride,
    ForecastRun,
    Promotion,
    ReplenishmentSuggestion,
    SafetyStock,
    SuggestionStatus,
)

bp = Blueprint("planning", __name__, url_prefix="/api/v1/planning")
R = TypeVar("R")
MAX_UPLOAD = 20 * 1024 * 1024


# -- helpers ------------------------------------------------------------------------------------

def to_json(value: Any) -> Any:
    """Render result objects: dataclasses as objects, Decimal as exact strings, dates as ISO."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return dec(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_json(v) for v in value]
    return value


def _write(fn: Callable[[Session, Actor], R]) -> R:
    """Run ``fn(session, actor)`` as one transaction for the calling member (retried, replayed)."""
    return transact(fn)


def _read(fn: Callable[[Session, Actor], R]) -> R:
    """Run a query for a planner (PLAN permission) on the request's read-only session."""
    session, actor = reader()
    actor.require(Permission.PLAN)
    return fn(session, actor)


def _key() -> str | None:
    return request.headers.get("Idempotency-Key") or None


# -- demand history and imports -----------------------------------------------------------------

@bp.get("/demand")
def demand_history() -> Any:
    """Daily or weekly demand (sales, returns, giveaways, stockouts) of an item, optionally at one site."""
    item_id = int_field(request.args.get("item_id"), "item_id")
    site_id = int_field(request.args.get("site_id"), "site_id", required=False)
    grain = request.args.get("grain", "weekly")
    if grain not in ("daily", "weekly"):
        raise ValidationError("grain 须是 daily 或 weekly", field="grain")
    start = date_field(request.args.get("start"), "start", required=False)
    end = date_field(request.args.get("end"), "end", required=False)

    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        fn = daily_demand if grain == "daily" else weekly_demand
        found = fn(session, actor.org_id, item_ids=[item_id or 0], site_ids=[site_id] if site_id else None, end=end)
        out = []
        for (item, site), rows in sorted(found.items()):
            if start is not None:
                rows = [r for r in rows if (r.day if grain == "daily" else r.week) >= start]
            out.append({"item_id": item, "site_id": site, "grain": grain, "rows": to_json(rows)})
        return out

    return jsonify({"series": _read(q)})


@bp.post("/imports")
def post_import() -> Any:
    """Upload a CSV or Excel file of demand (multipart ``file``); ``dry_run=1`` only validates."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationError("请上传文件（字段名 file）", field="file")
    content = upload.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        raise ValidationError("文件不能超过 20MB", field="file")
    dry_run = flag(request.form.get("dry_run") or request.args.get("dry_run") or "")
    cmd = ImportDemand(content=content, filename=upload.filename or "", dry_run=dry_run)
    report = _write(lambda s, a: import_demand(s, a, cmd, idempotency_key=_key()))
    return jsonify(to_json(report)), 200 if dry_run else 201


@bp.get("/imports")
def list_imports() -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        rows = session.scalars(select(DemandImport).where(DemandImport.org_id == actor.org_id)
                               .order_by(DemandImport.id.desc()).limit(100))
        return [{"id": r.id, "filename": r.filename, "granularity": r.granularity.value, "rows": r.rows_imported,
                 "created_by": r.created_by, "created_at": r.created_at.isoformat(), "report": r.report} for r in rows]

    return jsonify(_read(q))


# -- promotions and covariates ------------------------------------------------------------------

def _promotion_cmd(body: dict[str, Any], promotion_id: int | None = None) -> SetPromotion:
    return SetPromotion(item_id=int_field(body.get("item_id"), "item_id") or 0,
                        site_id=int_field(body.get("site_id"), "site_id", required=False),
                        starts_on=date_field(body.get("starts_on"), "starts_on") or date.min,
                        ends_on=date_field(body.get("ends_on"), "ends_on") or date.min,
                        uplift=decimal_field(body.get("uplift", "0"), "uplift") or Decimal(0),
                        note=str(body.get("note", "")), promotion_id=promotion_id)


@bp.get("/promotions")
def list_promotions() -> Any:
    include_cancelled = flag(request.args.get("all", ""))

    def q(session: Session, actor: Actor) -> list[Any]:
        stmt = select(Promotion).where(Promotion.org_id == actor.org_id)
        if not include_cancelled:
            stmt = stmt.where(Promotion.active.is_(True))
        return [to_json(promotion_view(p)) for p in session.scalars(stmt.order_by(Promotion.starts_on))]

    return jsonify(_read(q))


@bp.post("/promotions")
def post_promotion() -> Any:
    cmd = _promotion_cmd(json_object())
    return jsonify(to_json(_write(lambda s, a: set_promotion(s, a, cmd, idempotency_key=_key())))), 201


@bp.put("/promotions/<int:promotion_id>")
def put_promotion(promotion_id: int) -> Any:
    cmd = _promotion_cmd(json_object(), promotion_id)
    return jsonify(to_json(_write(lambda s, a: set_promotion(s, a, cmd, idempotency_key=_key()))))


@bp.delete("/promotions/<int:promotion_id>")
def delete_promotion(promotion_id: int) -> Any:
    reason = str(optional_json_object().get("reason") or request.args.get("reason", ""))
    cmd = CancelPromotion(promotion_id, reason)
    return jsonify(to_json(_write(lambda s, a: cancel_promotion(s, a, cmd, idempotency_key=_key()))))


def _covariate_values() -> tuple[str, tuple[tuple[date, Decimal], ...]]:
    upload = request.files.get("file")
    if upload is not None:
        name = request.form.get("name", "")
        text = upload.read(MAX_UPLOAD).decode("utf-8-sig", errors="replace")
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            raise ValidationError("文件是空的", field="file")
        header = [h.strip().lower() for h in rows[0]]
        try:
            d_col = next(i for i, h in enumerate(header) if h in ("日期", "date", "day"))
            v_col = next(i for i, h in enumerate(header) if h in ("数值", "值", "value"))
        except StopIteration:
            raise ValidationError("须有“日期”和“数值”两列", field="file") from None
        raw = [{"date": r[d_col], "value": r[v_col]} for r in rows[1:] if len(r) > max(d_col, v_col)]
    else:
        body = json_object()
        name, raw = str(body.get("name", "")), body.get("values") or []
        if not isinstance(raw, list):
            raise ValidationError("values 须是列表", field="values")
    values = []
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise ValidationError(f"第 {n} 个值格式不对", field="values")
        values.append((date_field(item.get("date"), f"values[{n}].date") or date.min,
                       decimal_field(item.get("value"), f"values[{n}].value") or Decimal(0)))
    return name, tuple(values)


@bp.post("/covariates")
def post_covariate() -> Any:
    """Upload a covariate series: JSON {"name", "values": [{"date", "value"}]} or a CSV (日期, 数值) with ``name``."""
    name, values = _covariate_values()
    cmd = UploadCovariate(name, values)
    return jsonify(to_json(_write(lambda s, a: upload_covariate(s, a, cmd, idempotency_key=_key())))), 201


@bp.get("/covariates")
def list_covariates() -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        rows = session.execute(select(CovariateValue.name, func.count(), func.min(CovariateValue.day),
                                      func.max(CovariateValue.day))
                               .where(CovariateValue.org_id == actor.org_id).group_by(CovariateValue.name))
        return [{"name": n, "count": c, "first_day": to_json(lo), "last_day": to_json(hi)} for n, c, lo, hi in rows]

    return jsonify(_read(q))


# -- settings, forecasts and overrides ----------------------------------------------------------

@bp.get("/settings")
def get_settings() -> Any:
    return jsonify({"settings": _read(lambda s, a: planning_settings(s, a.org_id)), "methods": forecasting.methods()})


@bp.put("/settings")
def put_settings() -> Any:
    body = json_object()
    values = body.get("settings")
    if not isinstance(values, dict):
        raise ValidationError("settings 须是对象", field="settings")
    cmd = SetPlanningSettings(values, str(body.get("reason", "")))
    return jsonify(to_json(_write(lambda s, a: set_planning_settings(s, a, cmd, idempotency_key=_key()))))


@bp.post("/forecasts")
def post_forecast() -> Any:
    """Start (and, synchronously, finish) a forecast run."""
    body = optional_json_object()
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise ValidationError("parameters 须是对象", field="parameters")
    cmd = RunForecast(horizon=int_field(body.get("horizon"), "horizon", required=False),
                      method=body.get("method") or None, parameters=params,
                      as_of=date_field(body.get("as_of"), "as_of", required=False))
    return jsonify(to_json(_write(lambda s, a: run_forecast(s, a, cmd, idempotency_key=_key())))), 201


@bp.get("/forecasts")
def list_forecasts() -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        runs = session.scalars(select(ForecastRun).where(ForecastRun.org_id == actor.org_id)
                               .order_by(ForecastRun.id.desc()).limit(100))
        return [run_summary(r) for r in runs]

    return jsonify(_read(q))


@bp.get("/forecasts/<int:run_id>")
def get_forecast(run_id: int) -> Any:
    return jsonify(_read(lambda s, a: run_summary(get_owned(s, ForecastRun, run_id, a.org_id))))


def line_json(ln: ForecastLine) -> dict[str, Any]:
    return {"item_id": ln.item_id, "site_id": ln.site_id, "week": ln.week.isoformat(), "mean": to_json(ln.mean),
            "lo80": to_json(ln.lo80), "hi80": to_json(ln.hi80), "lo95": to_json(ln.lo95), "hi95": to_json(ln.hi95),
            "final": to_json(ln.final), "override_id": ln.override_id, "method": ln.method,
            "method_label": forecasting.methods().get(ln.method, ln.method), "explanation": ln.explanation,
            "accuracy": ln.accuracy, "warnings": ln.warnings}


@bp.get("/forecasts/<int:run_id>/lines")
def forecast_lines(run_id: int) -> Any:
    """A run's lines with their explanation, accuracy and warnings (filter by item_id, site_id)."""
    item_id = int_field(request.args.get("item_id"), "item_id", required=False)
    site_id = int_field(request.args.get("site_id"), "site_id", required=False)

    def q(session: Session, actor: Actor) -> dict[str, Any]:
        run = get_owned(session, ForecastRun, run_id, actor.org_id)
        stmt = select(ForecastLine).where(ForecastLine.run_id == run.id)
        if item_id:
            stmt = stmt.where(ForecastLine.item_id == item_id)
        if site_id:
            stmt = stmt.where(ForecastLine.site_id == site_id)
        lines = session.scalars(stmt.order_by(ForecastLine.item_id, ForecastLine.site_id, ForecastLine.week)
                                .limit(5000))
        return {"run": run_summary(run), "lines": [line_json(ln) for ln in lines]}

    return jsonify(_read(q))


@bp.post("/overrides")
def post_override() -> Any:
    body = json_object()
    cmd = OverrideForecast(item_id=int_field(body.get("item_id"), "item_id") or 0,
                           site_id=int_field(body.get("site_id"), "site_id") or 0,
                           from_week=date_field(body.get("from_week"), "from_week") or date.min,
                           weeks=int_field(body.get("weeks", 1), "weeks") or 0, reason=str(body.get("reason", "")),
                           set_value=decimal_field(body.get("set_value"), "set_value", required=False),
                           scale=decimal_field(body.get("scale"), "scale", required=False))
    return jsonify(to_json(_write(lambda s, a: override_forecast(s, a, cmd, idempotency_key=_key())))), 201


def override_json(ov: ForecastOverride) -> dict[str, Any]:
    return {"id": ov.id, "item_id": ov.item_id, "site_id": ov.site_id, "from_week": ov.from_week.isoformat(),
            "weeks": ov.weeks, "set_value": to_json(ov.set_value), "scale": to_json(ov.scale), "reason": ov.reason,
            "created_by": ov.created_by, "created_at": ov.created_at.isoformat(), "run_id": ov.run_id,
            "active": ov.active, "score": ov.score, "scored_at": to_json(ov.scored_at)}


@bp.get("/overrides")
def list_overrides() -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        rows = session.scalars(select(ForecastOverride).where(ForecastOverride.org_id == actor.org_id)
                               .order_by(ForecastOverride.id.desc()).limit(500))
        return [override_json(o) for o in rows]

    return jsonify(_read(q))


@bp.delete("/overrides/<int:override_id>")
def delete_override(override_id: int) -> Any:
    """Withdraw an override (a reason is required)."""
    reason = str(optional_json_object().get("reason") or request.args.get("reason", ""))
    cmd = CancelOverride(override_id, reason)
    return jsonify(to_json(_write(lambda s, a: cancel_override(s, a, cmd, idempotency_key=_key()))))


@bp.post("/overrides/score")
def post_score() -> Any:
    body = optional_json_object()
    cmd = ScoreOverrides(as_of=date_field(body.get("as_of"), "as_of", required=False))
    return jsonify(to_json(_write(lambda s, a: score_overrides(s, a, cmd, idempotency_key=_key()))))


@bp.get("/overrides/scores")
def list_scores() -> Any:
    """Scored overrides: did the planner's judgement beat the model, and what explains the error."""
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        rows = session.scalars(select(ForecastOverride).where(ForecastOverride.org_id == actor.org_id,
                                                              ForecastOverride.scored_at.is_not(None))
                               .order_by(ForecastOverride.scored_at.desc()).limit(500))
        return [override_json(o) for o in rows]

    return jsonify(_read(q))


# -- replenishment and the sandbox --------------------------------------------------------------

@bp.post("/replenishment/recompute")
def post_recompute() -> Any:
    body = optional_json_object()
    cmd = RecomputeReplenishment(run_id=int_field(body.get("run_id"), "run_id", required=False))
    return jsonify(to_json(_write(lambda s, a: recompute_replenishment(s, a, cmd, idempotency_key=_key()))))


@bp.get("/replenishment/suggestions")
def list_suggestions() -> Any:
    status = request.args.get("status", SuggestionStatus.PROPOSED.value)
    if status not in {s.value for s in SuggestionStatus} | {"all"}:
        raise ValidationError("status 无效", field="status")

    def q(session: Session, actor: Actor) -> list[Any]:
        stmt = select(ReplenishmentSuggestion).where(ReplenishmentSuggestion.org_id == actor.org_id)
        if status != "all":
            stmt = stmt.where(ReplenishmentSuggestion.status == SuggestionStatus(status))
        return [to_json(suggestion_view(s)) for s in session.scalars(
            stmt.order_by(ReplenishmentSuggestion.id.desc()).limit(1000))]

    return jsonify(_read(q))


@bp.get("/replenishment/safety-stock")
def list_safety_stock() -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        rows = session.scalars(select(SafetyStock).where(SafetyStock.org_id == actor.org_id)
                               .order_by(SafetyStock.item_id, SafetyStock.site_id))
        return [{"item_id": r.item_id, "site_id": r.site_id, "safety_stock": to_json(r.value),
                 "reorder_point": to_json(r.reorder_point), "service_level": to_json(r.service_level),
                 "lead_time_weeks": to_json(r.lead_time_weeks), "computed_at": r.computed_at.isoformat(),
                 "run_id": r.run_id} for r in rows]

    return jsonify(_read(q))


@bp.post("/replenishment/suggestions/<int:suggestion_id>/accept")
def post_accept(suggestion_id: int) -> Any:
    body = optional_json_object()
    cmd = AcceptSuggestion(suggestion_id, quantity=decimal_field(body.get("quantity"), "quantity", required=False),
                           party_id=int_field(body.get("party_id"), "party_id", required=False),
                           unit_price=decimal_field(body.get("unit_price"), "unit_price", required=False),
                           note=str(body.get("note", "")))
    return jsonify(to_json(_write(lambda s, a: accept_suggestion(s, a, cmd, idempotency_key=_key()))))


@bp.post("/replenishment/suggestions/<int:suggestion_id>/dismiss")
def post_dismiss(suggestion_id: int) -> Any:
    body = optional_json_object()
    cmd = DismissSuggestion(suggestion_id, str(body.get("reason", "")))
    return jsonify(to_json(_write(lambda s, a: dismiss_suggestion(s, a, cmd, idempotency_key=_key()))))


@bp.post("/sandbox")
def post_sandbox() -> Any:
    """Forecast and plan with other parameters and compare with the live plan; writes nothing."""
    body = optional_json_object()
    promo = body.get("promotion")
    if promo is not None and not isinstance(promo, dict):
        raise ValidationError("promotion 须是对象", field="promotion")
    cmd = PlanningSandbox(
        method=body.get("method") or None, service_level=float_field(body.get("service_level"), "service_level"),
        lead_time_weeks=float_field(body.get("lead_time_weeks"), "lead_time_weeks"),
        horizon=int_field(body.get("horizon"), "horizon", required=False),
        promotion=SandboxPromotion(
            item_id=int_field(promo.get("item_id"), "promotion.item_id") or 0,
            starts_on=date_field(promo.get("starts_on"), "promotion.starts_on") or date.min,
            ends_on=date_field(promo.get("ends_on"), "promotion.ends_on") or date.min,
            uplift=decimal_field(promo.get("uplift", "0"), "promotion.uplift") or Decimal(0),
            site_id=int_field(promo.get("site_id"), "promotion.site_id", required=False)) if promo else None,
        item_ids=id_list(body.get("item_ids"), "item_ids"), site_ids=id_list(body.get("site_ids"), "site_ids"))
    session, actor = reader()
    result = run_planning_sandbox(session, actor, cmd)
    session.rollback()  # belt and braces: the sandbox writes nothing
    return jsonify(to_json(result))


@bp.get("/methods")
def methods() -> Any:
    return jsonify(forecasting.methods())

