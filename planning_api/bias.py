"""The bias-attribution board over HTTP: a closed week's forecast misses with their ranked causes
(promotion not run as planned, stock-out, late transfer, weather off its forecast, an override that
made it worse) and the overrides' track record.

The same query as the console's 计划 › 偏差归因 page (models.queries.forecast_bias).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from miniprogram_api.apiutil import Counted, out_model
from miniprogram_api.skeleton import Ctx, PlanDate, api_blueprint, endpoint
from models.actor import Permission
from models.queries.forecast_bias import MIN_ERROR, BiasBoard, forecast_bias
from planning_api.common import PREFIX

api = api_blueprint("planning_bias", __name__, PREFIX, "需求计划")


class BiasQuery(BaseModel):
    week: PlanDate | None = Field(None, description="已结束的一周的周一（默认上一个完整周，上海时间）")
    min_error: Counted = Field(MIN_ERROR, description="归因的最小绝对误差（基本单位）")


@endpoint(api.get, "/bias", permission=Permission.PLAN, response=out_model(BiasBoard))
def bias(ctx: Ctx, query: BiasQuery) -> Any:
    """A closed week: forecast vs actual per item × site, notable misses with ranked causes, overrides' record."""
    return forecast_bias(ctx.session, ctx.actor, week=query.week, min_error=query.min_error)
