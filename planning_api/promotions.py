"""Promotions (expected uplift per item, site and dates) and uploaded covariate series."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Annotated, Any

from flask_openapi3 import FileStorage
from pydantic import BaseModel, Field

from miniprogram_api.apiutil import out_model
from miniprogram_api.skeleton import Ctx, Number, PlanDate, QueryId, StrictId, api_blueprint, endpoint, validate
from models.actor import Permission
from models.errors import ValidationError
from models.operations.planning import (
    CancelPromotion,
    CovariateSeries,
    PromotionView,
    SetPromotion,
    UploadCovariate,
    cancel_promotion,
    set_promotion,
    upload_covariate,
)
from models.queries import planning_lists
from planning_api.common import ARRAY, PREFIX, ReasonIn

api = api_blueprint("planning_promotions", __name__, PREFIX, "需求计划")
PromotionOut = out_model(PromotionView)
CovariateOut = out_model(CovariateSeries)
MAX_UPLOAD = 5 * 1024 * 1024
MAX_VALUES = 5000


class PromotionIn(BaseModel):
    item_id: StrictId
    site_id: StrictId | None = None
    starts_on: PlanDate
    ends_on: PlanDate
    uplift: Number = Decimal(0)
    note: str = Field("", max_length=500)

    def command(self, promotion_id: int | None = None) -> SetPromotion:
        return SetPromotion(item_id=self.item_id, site_id=self.site_id, starts_on=self.starts_on,
                            ends_on=self.ends_on, uplift=self.uplift, note=self.note, promotion_id=promotion_id)


class PromotionPath(BaseModel):
    promotion_id: QueryId


class PromotionsQuery(BaseModel):
    all: bool = Field(False, description="true：包括已取消的促销")


@endpoint(api.get, "/promotions", permission=Permission.PLAN, response=ARRAY)
def list_promotions(ctx: Ctx, query: PromotionsQuery) -> Any:
    """Active promotions (``all=true``: cancelled ones too), by start date."""
    return planning_lists.promotions(ctx.session, ctx.actor, include_cancelled=query.all)


@endpoint(api.post, "/promotions", permission=Permission.PLAN, response=PromotionOut, status=201)
def post_promotion(ctx: Ctx, body: PromotionIn) -> Any:
    """Plan a promotion."""
    return ctx.call(set_promotion, body.command())


@endpoint(api.put, "/promotions/<int:promotion_id>", permission=Permission.PLAN, response=PromotionOut)
def put_promotion(ctx: Ctx, path: PromotionPath, body: PromotionIn) -> Any:
    """Change a promotion."""
    return ctx.call(set_promotion, body.command(path.promotion_id))


@endpoint(api.delete, "/promotions/<int:promotion_id>", permission=Permission.PLAN, response=PromotionOut)
def delete_promotion(ctx: Ctx, path: PromotionPath, body: ReasonIn) -> Any:
    """Cancel a promotion (JSON body ``{"reason": ...}``, may be empty)."""
    return ctx.call(cancel_promotion, CancelPromotion(path.promotion_id, body.reason))


class CovariatePoint(BaseModel):
    date: PlanDate
    value: Number


class CovariateIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    values: Annotated[list[CovariatePoint], Field(max_length=MAX_VALUES)]


class CovariateForm(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    file: FileStorage


@endpoint(api.post, "/covariates", permission=Permission.PLAN, response=CovariateOut, status=201)
def post_covariate(ctx: Ctx, body: CovariateIn) -> Any:
    """Upload a covariate series as JSON: {"name", "values": [{"date", "value"}]}."""
    cmd = UploadCovariate(body.name, tuple((v.date, v.value) for v in body.values))
    return ctx.call(upload_covariate, cmd)


@endpoint(api.post, "/covariates/upload", permission=Permission.PLAN, response=CovariateOut, status=201)
def upload_covariate_csv(ctx: Ctx, form: CovariateForm) -> Any:
    """Upload a covariate series as CSV (columns 日期, 数值) with its ``name``."""
    raw = form.file.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        raise ValidationError("文件不能超过 5MB", field="file")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig", errors="replace"))))
    if not rows:
        raise ValidationError("文件是空的", field="file")
    header = [h.strip().lower() for h in rows[0]]
    try:
        d_col = next(i for i, h in enumerate(header) if h in ("日期", "date", "day"))
        v_col = next(i for i, h in enumerate(header) if h in ("数值", "值", "value"))
    except StopIteration:
        raise ValidationError("须有“日期”和“数值”两列", field="file") from None
    raw_points = [{"date": r[d_col].strip(), "value": r[v_col].strip()} for r in rows[1:] if len(r) > max(d_col, v_col)]
    # the same bounded types as the JSON route: a CSV cell is no more trusted than a JSON field
    parsed = validate(CovariateIn, {"name": form.name, "values": raw_points})
    return ctx.call(upload_covariate, UploadCovariate(parsed.name, tuple((v.date, v.value) for v in parsed.values)))


@endpoint(api.get, "/covariates", permission=Permission.PLAN, response=ARRAY)
def list_covariates(ctx: Ctx) -> Any:
    """Each covariate series: name, number of values, first and last day."""
    return planning_lists.covariates(ctx.session, ctx.actor)
