"""The cash forecast (cash and bank now, expected inflows and outflows hour by hour, each traced to its
documents) and the organisation's minimum projected cash. Reads need 查看财务; the threshold 结算付款."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, BeforeValidator, Field

from miniprogram_api.apiutil import dump, out_model, strict_decimal
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Ctx, endpoint
from models.actor import Permission
from models.base import utcnow
from models.operations.cash import CashThreshold, SetCashThreshold, set_cash_threshold
from models.queries.cash_forecast import MAX_HOURS, CashForecast, cash_forecast

api = APIBlueprint("cash", __name__, url_prefix="/api/v1/finance", abp_tags=[Tag(name="现金预测")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

#: A minimum of cash: may be negative (an overdraft line), to the fen, within a trillion yuan.
Minimum = Annotated[Decimal, BeforeValidator(strict_decimal),
                    Field(ge=Decimal("-1e12"), le=Decimal("1e12"), decimal_places=2)]


class ForecastQuery(BaseModel):
    hours: int = Field(72, ge=1, le=MAX_HOURS, description="向后看多少小时（1–168，默认 72）")

    def run(self, ctx: Ctx) -> CashForecast:
        """The forecast from now (shared with /exports/cash-forecast.xlsx)."""
        return cash_forecast(ctx.session, ctx.actor.org_id, utcnow(), self.hours)


@endpoint(api.get, "/cash-forecast", permission=Permission.VIEW_FINANCE, response=out_model(CashForecast))
def forecast(ctx: Ctx, query: ForecastQuery) -> dict:
    """Cash and bank now and their projection hour by hour (Asia/Shanghai): receivables and payables
    due, farmer money due, approved purchase orders; the lowest point; every item behind the figures."""
    return dump(query.run(ctx))


class ThresholdIn(BaseModel):
    minimum: Minimum | None = Field(description="现金下限（元）；预计余额低于它时提醒财务与总监；null 取消提醒")
    reason: str = Field("", max_length=200)


@endpoint(api.put, "/cash-threshold", permission=Permission.SETTLE, response=out_model(CashThreshold))
def threshold(ctx: Ctx, body: ThresholdIn) -> dict:
    """Set the minimum projected cash (or clear it); audited. The next check judges against it afresh."""
    return dump(ctx.call(set_cash_threshold, SetCashThreshold(body.minimum, body.reason)))
