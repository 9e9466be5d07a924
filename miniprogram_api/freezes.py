"""Lift a freeze (解冻): the action behind 首页's frozen-stock card, for the API's clients too."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from miniprogram_api.apiutil import out_model
from miniprogram_api.skeleton import Ctx, QueryId, api_blueprint, endpoint
from models.actor import Permission
from models.operations.quality import FreezeResult, UnfreezeStock, unfreeze_stock

api = api_blueprint("clerk_freezes", __name__, "/api/v1", "冻结")


class FreezePath(BaseModel):
    freeze_id: QueryId


class LiftIn(BaseModel):
    reason: str = Field(..., min_length=1, max_length=500)


@endpoint(api.post, "/freezes/<int:freeze_id>/lift", permission=Permission.FREEZE, response=out_model(FreezeResult))
def post_lift(ctx: Ctx, path: FreezePath, body: LiftIn) -> Any:
    """Lift a freeze with a reason (a QC freeze lifts only by a passing re-test)."""
    return ctx.call(unfreeze_stock, UnfreezeStock(path.freeze_id, body.reason))
