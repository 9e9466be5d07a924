"""Replenishment (safety stock, suggestions to accept or dismiss) and the planning sandbox."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt

from miniprogram_api.apiutil import out_model
from miniprogram_api.skeleton import Ctx, Number, PlanDate, QueryId, StrictId, api_blueprint, endpoint
from models.actor import Permission
from models.operations.planning_sandbox import PlanningSandbox, SandboxPromotion, SandboxResult, run_planning_sandbox
from models.operations.replenishment import (
    AcceptSuggestion,
    DismissSuggestion,
    RecomputeReplenishment,
    ReplenishmentResult,
    SuggestionView,
    accept_suggestion,
    dismiss_suggestion,
    recompute_replenishment,
)
from models.queries import planning_lists
from planning_api.common import ARRAY, PREFIX

api = api_blueprint("planning_replenishment", __name__, PREFIX, "需求计划")
SuggestionOut = out_model(SuggestionView)
IdList = Annotated[list[StrictId], Field(max_length=1000)]


class RecomputeIn(BaseModel):
    run_id: StrictId | None = None


class SuggestionsQuery(BaseModel):
    status: Literal["proposed", "accepted", "dismissed", "superseded", "all"] = "proposed"


class SuggestionPath(BaseModel):
    suggestion_id: QueryId


class AcceptIn(BaseModel):
    quantity: Number | None = None
    party_id: StrictId | None = None
    unit_price: Number | None = None
    note: str = Field("", max_length=500)


class DismissIn(BaseModel):
    reason: str = Field("", max_length=500)


class SandboxPromotionIn(BaseModel):
    item_id: StrictId
    starts_on: PlanDate
    ends_on: PlanDate
    uplift: Number = Decimal(0)
    site_id: StrictId | None = None


class SandboxIn(BaseModel):
    method: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    service_level: Annotated[float, Field(ge=0.5, lt=1, allow_inf_nan=False)] | None = None
    lead_time_weeks: Annotated[float, Field(ge=0, le=104, allow_inf_nan=False)] | None = None
    horizon: Annotated[StrictInt, Field(ge=1, le=104)] | None = None
    promotion: SandboxPromotionIn | None = None
    item_ids: IdList | None = None
    site_ids: IdList | None = None


@endpoint(api.post, "/replenishment/recompute", permission=Permission.PLAN, response=out_model(ReplenishmentResult))
def post_recompute(ctx: Ctx, body: RecomputeIn) -> Any:
    """Recompute safety stock and suggestions from a forecast run (default: the latest)."""
    return ctx.call(recompute_replenishment, RecomputeReplenishment(run_id=body.run_id))


@endpoint(api.get, "/replenishment/suggestions", permission=Permission.PLAN, response=ARRAY)
def list_suggestions(ctx: Ctx, query: SuggestionsQuery) -> Any:
    """Suggestions in one status (default proposed; ``all`` for every status)."""
    return planning_lists.suggestions(ctx.session, ctx.actor, status=query.status)


@endpoint(api.get, "/replenishment/safety-stock", permission=Permission.PLAN, response=ARRAY)
def list_safety_stock(ctx: Ctx) -> Any:
    """Safety stock and reorder point per item and site, from the last recompute."""
    return planning_lists.safety_stock(ctx.session, ctx.actor)


@endpoint(api.post, "/replenishment/suggestions/<int:suggestion_id>/accept", permission=Permission.PLAN,
          response=SuggestionOut)
def post_accept(ctx: Ctx, path: SuggestionPath, body: AcceptIn) -> Any:
    """Accept a suggestion: confirm a purchase order or request a transfer (changes allowed)."""
    return ctx.call(accept_suggestion, AcceptSuggestion(
        path.suggestion_id, quantity=body.quantity, party_id=body.party_id, unit_price=body.unit_price,
        note=body.note))


@endpoint(api.post, "/replenishment/suggestions/<int:suggestion_id>/dismiss", permission=Permission.PLAN,
          response=SuggestionOut)
def post_dismiss(ctx: Ctx, path: SuggestionPath, body: DismissIn) -> Any:
    """Dismiss a suggestion with a reason."""
    return ctx.call(dismiss_suggestion, DismissSuggestion(path.suggestion_id, body.reason))


@endpoint(api.post, "/sandbox", permission=Permission.PLAN, response=out_model(SandboxResult), write=False)
def post_sandbox(ctx: Ctx, body: SandboxIn) -> Any:
    """Forecast and plan with other parameters and compare with the live plan; writes nothing."""
    promo = body.promotion
    cmd = PlanningSandbox(
        method=body.method, service_level=body.service_level, lead_time_weeks=body.lead_time_weeks,
        horizon=body.horizon, item_ids=tuple(body.item_ids) if body.item_ids else None,
        site_ids=tuple(body.site_ids) if body.site_ids else None,
        promotion=SandboxPromotion(item_id=promo.item_id, starts_on=promo.starts_on, ends_on=promo.ends_on,
                                   uplift=promo.uplift, site_id=promo.site_id) if promo else None)
    try:
        return run_planning_sandbox(ctx.session, ctx.actor, cmd)
    finally:
        ctx.session.rollback()  # belt and braces: the sandbox writes nothing
