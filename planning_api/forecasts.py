"""Planning settings, forecast runs and their lines, planners' overrides and their scores."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from miniprogram_api.apiutil import out_model
from miniprogram_api.skeleton import Ctx, Number, PlanDate, QueryId, StrictId, api_blueprint, endpoint
from models import forecasting
from models.actor import Permission
from models.operations.forecast_overrides import (
    CancelOverride,
    OverrideForecast,
    OverrideView,
    ScoreOverrides,
    cancel_override,
    override_forecast,
    score_overrides,
)
from models.operations.planning import (
    PlanningSettings,
    RunForecast,
    RunResult,
    SetPlanningSettings,
    planning_settings,
    run_forecast,
    set_planning_settings,
)
from models.operations.planning_days import DAY_HORIZON_MAX
from models.queries import planning_lists
from models.queries.forecast_days import forecast_day_lines
from planning_api.common import ARRAY, OBJECT, PREFIX, ItemSiteQuery, ReasonIn, json_schema

api = api_blueprint("planning_forecasts", __name__, PREFIX, "需求计划")
OverrideOut = out_model(OverrideView)

Weeks = Annotated[float, Field(ge=0, le=104, allow_inf_nan=False)]
MethodName = Annotated[str, Field(min_length=1, max_length=32)]
Frequency = Literal["week", "day"]
IdList = Annotated[list[StrictId], Field(max_length=1000)]


class ItemSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lead_time_weeks: Weeks | None = None
    pack_size: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] | None = None
    min_order: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    supplier_id: StrictId | None = None
    unit_price: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    service_level: Annotated[float, Field(ge=0.5, lt=1, allow_inf_nan=False)] | None = None


class SettingsValues(BaseModel):
    """Planning settings: only the keys sent change (see models.operations.planning.DEFAULTS)."""

    model_config = ConfigDict(extra="forbid")
    service_level: Annotated[float, Field(ge=0.5, lt=1, allow_inf_nan=False)] | None = None
    lead_time_weeks: Weeks | None = None
    review_weeks: Weeks | None = None
    horizon: Annotated[StrictInt, Field(ge=1, le=104)] | None = None
    method: MethodName | None = None
    season_length: Annotated[StrictInt, Field(ge=1, le=366)] | None = None
    use_holidays: StrictBool | None = None
    backtest_folds: Annotated[StrictInt, Field(ge=0, le=20)] | None = None
    slow_sell_through: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    slow_weeks: Annotated[StrictInt, Field(ge=1, le=104)] | None = None
    default_supplier_id: StrictId | None = None
    frequency: Frequency | None = Field(None, description="预测频率：week 按周，day 按日")
    day_horizon: Annotated[StrictInt, Field(ge=1, le=DAY_HORIZON_MAX)] | None = Field(
        None, description="按日预测的默认天数")
    items: Annotated[dict[Annotated[str, Field(pattern=r"^[1-9][0-9]{0,15}$")], ItemSettingsIn],
                     Field(max_length=10_000)] | None = None


class SettingsIn(BaseModel):
    settings: SettingsValues
    reason: str = Field("", max_length=500)


class RunParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    season_length: Annotated[StrictInt, Field(ge=1, le=366)] | None = None
    use_holidays: StrictBool | None = None
    backtest_folds: Annotated[StrictInt, Field(ge=0, le=20)] | None = None
    item_ids: IdList | None = None
    site_ids: IdList | None = None


class ForecastIn(BaseModel):
    frequency: Frequency | None = Field(
        None, description="week：按周（周数，1–104）；day：按日（天数，1–120），并与各周对齐。默认取计划设置")
    horizon: Annotated[StrictInt, Field(ge=1, le=DAY_HORIZON_MAX)] | None = Field(
        None, description="预测周数（按周）或天数（按日）")
    method: MethodName | None = None
    parameters: RunParameters = RunParameters()
    as_of: PlanDate | None = Field(None, description="按周：从含这一天的周起；按日：从这一天起（默认今天）")


class RunPath(BaseModel):
    run_id: QueryId


class OverrideIn(BaseModel):
    item_id: StrictId
    site_id: StrictId
    from_week: PlanDate
    weeks: Annotated[StrictInt, Field(ge=1, le=104)] = 1
    reason: str = Field("", max_length=500)
    set_value: Number | None = None
    scale: Number | None = None


class OverridePath(BaseModel):
    override_id: QueryId


class ScoreIn(BaseModel):
    as_of: PlanDate | None = None


@endpoint(api.get, "/settings", permission=Permission.PLAN, response=OBJECT)
def get_settings(ctx: Ctx) -> Any:
    """The organisation's planning settings with defaults filled in, and the forecasting methods."""
    return {"settings": planning_settings(ctx.session, ctx.actor.org_id), "methods": forecasting.methods()}


@endpoint(api.put, "/settings", permission=Permission.PLAN, response=out_model(PlanningSettings))
def put_settings(ctx: Ctx, body: SettingsIn) -> Any:
    """Change planning settings (only the keys sent), audited with the reason."""
    values = body.settings.model_dump(exclude_unset=True)
    if values.get("items") is not None:  # "items": null is refused by the operation, not read here
        values["items"] = {k: {f: v for f, v in item.items() if v is not None} for k, item in values["items"].items()}
    return ctx.call(set_planning_settings, SetPlanningSettings(values, body.reason))


@endpoint(api.post, "/forecasts", permission=Permission.PLAN, response=out_model(RunResult), status=201)
def post_forecast(ctx: Ctx, body: ForecastIn) -> Any:
    """Start (and, synchronously, finish) a forecast run."""
    params = body.parameters.model_dump(exclude_none=True)
    cmd = RunForecast(horizon=body.horizon, method=body.method, parameters=params, as_of=body.as_of,
                      frequency=body.frequency)
    return ctx.call(run_forecast, cmd)


@endpoint(api.get, "/forecasts", permission=Permission.PLAN, response=ARRAY)
def list_forecasts(ctx: Ctx) -> Any:
    """The last 100 forecast runs."""
    return planning_lists.forecast_runs(ctx.session, ctx.actor)


@endpoint(api.get, "/forecasts/<int:run_id>", permission=Permission.PLAN, response=OBJECT)
def get_forecast(ctx: Ctx, path: RunPath) -> Any:
    """One forecast run."""
    return planning_lists.forecast_run(ctx.session, ctx.actor, path.run_id)


@endpoint(api.get, "/forecasts/<int:run_id>/lines", permission=Permission.PLAN, response=OBJECT)
def forecast_lines(ctx: Ctx, path: RunPath, query: ItemSiteQuery) -> Any:
    """A run's lines with their explanation, accuracy and warnings (filter by item_id, site_id)."""
    run, lines = planning_lists.forecast_lines(ctx.session, ctx.actor, path.run_id, item_id=query.item_id,
                                               site_id=query.site_id)
    return {"run": run, "lines": lines}


DAYS_OUT = json_schema("object", "{run, days}：按日预测的各天（均值、80%/95% 区间、计划值、说明）；按周预测为空")


@endpoint(api.get, "/forecasts/<int:run_id>/days", permission=Permission.PLAN, response=DAYS_OUT)
def forecast_days(ctx: Ctx, path: RunPath, query: ItemSiteQuery) -> Any:
    """A day run's day lines with their explanation (summary, factors, covariates used); filter by item_id, site_id.

    Each day belongs to a week whose line (GET …/lines) is the sum of its days after reconciliation.
    """
    run, days = forecast_day_lines(ctx.session, ctx.actor, path.run_id, item_id=query.item_id, site_id=query.site_id)
    return {"run": run, "days": days}


@endpoint(api.post, "/overrides", permission=Permission.PLAN, response=OverrideOut, status=201)
def post_override(ctx: Ctx, body: OverrideIn) -> Any:
    """Override the forecast of an item at a site for some weeks (a value or a scale), with a reason."""
    return ctx.call(override_forecast, OverrideForecast(
        item_id=body.item_id, site_id=body.site_id, from_week=body.from_week, weeks=body.weeks,
        reason=body.reason, set_value=body.set_value, scale=body.scale))


@endpoint(api.get, "/overrides", permission=Permission.PLAN, response=ARRAY)
def list_overrides(ctx: Ctx) -> Any:
    """The last 500 overrides."""
    return planning_lists.overrides(ctx.session, ctx.actor)


@endpoint(api.delete, "/overrides/<int:override_id>", permission=Permission.PLAN, response=OverrideOut)
def delete_override(ctx: Ctx, path: OverridePath, body: ReasonIn) -> Any:
    """Withdraw an override (a reason is required)."""
    return ctx.call(cancel_override, CancelOverride(path.override_id, body.reason))


@endpoint(api.post, "/overrides/score", permission=Permission.PLAN,
          response={"description": "OK", "content": {"application/json": {"schema": {
              "type": "array", "items": OverrideOut.model_json_schema()}}}})
def post_score(ctx: Ctx, body: ScoreIn) -> Any:
    """Score the overrides whose weeks have passed: did the planner beat the model?"""
    return ctx.call(score_overrides, ScoreOverrides(as_of=body.as_of))


@endpoint(api.get, "/overrides/scores", permission=Permission.PLAN, response=ARRAY)
def list_scores(ctx: Ctx) -> Any:
    """Scored overrides: did the planner's judgement beat the model, and what explains the error."""
    return planning_lists.overrides(ctx.session, ctx.actor, scored_only=True)


@endpoint(api.get, "/methods", permission=Permission.PLAN,
          response={"description": "OK", "content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": {"type": "string"}}}}})
def methods(ctx: Ctx) -> Any:
    """The forecasting methods a run may force, with their Chinese labels."""
    return forecasting.methods()


