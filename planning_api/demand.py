"""Demand history and demand imports (CSV / Excel upload)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal

from flask_openapi3 import FileStorage
from pydantic import BaseModel, Field

from miniprogram_api.apiutil import out_model
from miniprogram_api.skeleton import Ctx, PlanDate, QueryId, Rendered, api_blueprint, endpoint
from models.actor import Permission
from models.demand import DemandDay, DemandWeek, Key, daily_demand, weekly_demand
from models.errors import ValidationError
from models.operations.demand_import import ImportDemand, ImportReport, import_demand
from models.queries import planning_lists
from planning_api.common import ARRAY, OBJECT, PREFIX

api = api_blueprint("planning_demand", __name__, PREFIX, "需求计划")
MAX_UPLOAD = 20 * 1024 * 1024


class DemandQuery(BaseModel):
    item_id: QueryId
    site_id: QueryId | None = None
    grain: Literal["daily", "weekly"] = "weekly"
    start: PlanDate | None = None
    end: PlanDate | None = None


@endpoint(api.get, "/demand", permission=Permission.PLAN, response=OBJECT)
def demand_history(ctx: Ctx, query: DemandQuery) -> Any:
    """Daily or weekly demand (sales, returns, giveaways, stockouts) of an item, optionally at one site."""
    out = []
    for (item, site), rows in sorted(_demand(ctx, query).items()):
        if query.start is not None:
            rows = [r for r in rows if _period(r) >= query.start]
        out.append({"item_id": item, "site_id": site, "grain": query.grain, "rows": rows})
    return {"series": out}


def _demand(ctx: Ctx, query: DemandQuery) -> Mapping[Key, Sequence[DemandDay | DemandWeek]]:
    sites = [query.site_id] if query.site_id else None
    if query.grain == "daily":
        return daily_demand(ctx.session, ctx.actor.org_id, item_ids=[query.item_id], site_ids=sites, end=query.end)
    return weekly_demand(ctx.session, ctx.actor.org_id, item_ids=[query.item_id], site_ids=sites, end=query.end)


def _period(row: DemandDay | DemandWeek) -> date:
    """The day, or the week's Monday, a demand row counts."""
    return row.day if isinstance(row, DemandDay) else row.week


class ImportForm(BaseModel):
    file: FileStorage
    dry_run: bool = Field(False, description="true：只校验，不写入")


@endpoint(api.post, "/imports", permission=Permission.PLAN, response=out_model(ImportReport), status=201)
def post_import(ctx: Ctx, form: ImportForm) -> Any:
    """Upload a CSV or Excel file of demand (multipart ``file``); ``dry_run`` only validates."""
    content = form.file.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        raise ValidationError("文件不能超过 20MB", field="file")
    cmd = ImportDemand(content=content, filename=(form.file.filename or "")[:200], dry_run=form.dry_run)
    report = ctx.call(import_demand, cmd)
    return Rendered(report, 200) if form.dry_run else report


@endpoint(api.get, "/imports", permission=Permission.PLAN, response=ARRAY)
def list_imports(ctx: Ctx) -> Any:
    """The organisation's last 100 demand imports."""
    return planning_lists.demand_imports(ctx.session, ctx.actor)
