"""The planning board: the latest run's item × site list, one item × site in full (history, lines,
overrides, safety stock), suggestions with their names, and the planning workbook (.xlsx).

The same queries as the console's 计划 pages (models.queries.planning_board), so a phone, another
system and the console read one set of figures.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from flask import Response
from pydantic import BaseModel, Field

from exports.planning_xlsx import planning_xlsx
from exports.xlsx import XLSX_MIME
from miniprogram_api.apiutil import out_model
from miniprogram_api.skeleton import Ctx, QueryId, api_blueprint, endpoint
from models.actor import Permission
from models.queries.planning_board import (
    Board,
    ItemSitePlan,
    SuggestionPage,
    export_lines,
    item_site_plan,
    planning_board,
    suggestion_page,
)
from models.queries.print_documents import org_name
from planning_api.common import PREFIX

api = api_blueprint("planning_board", __name__, PREFIX, "需求计划")
#: Rows a workbook's suggestion sheet holds (newest first).
EXPORT_SUGGESTIONS = 5000


class BoardQuery(BaseModel):
    after: str | None = Field(None, max_length=40, description="上一页最后一行的 item_id:site_id")


class ItemSitePath(BaseModel):
    item_id: QueryId
    site_id: QueryId


class SuggestionPageQuery(BaseModel):
    status: Literal["proposed", "accepted", "dismissed", "superseded", "all"] = "proposed"
    before_id: QueryId | None = None


@endpoint(api.get, "/board", permission=Permission.PLAN, response=out_model(Board))
def board(ctx: Ctx, query: BoardQuery) -> Any:
    """The latest completed run's item × site list (50 a page: planned total, overridden weeks, open suggestions)."""
    return planning_board(ctx.session, ctx.actor, after=query.after)


@endpoint(api.get, "/board/<int:item_id>/<int:site_id>", permission=Permission.PLAN, response=out_model(ItemSitePlan))
def board_item_site(ctx: Ctx, path: ItemSitePath) -> Any:
    """One item × site: weekly demand history, the forecast with its 80 %/95 % bands and explanation, overrides."""
    return item_site_plan(ctx.session, ctx.actor, path.item_id, path.site_id)


@endpoint(api.get, "/board/suggestions", permission=Permission.PLAN, response=out_model(SuggestionPage))
def board_suggestions(ctx: Ctx, query: SuggestionPageQuery) -> Any:
    """Replenishment suggestions with item, site and supplier names, 50 a page (keyset ``before_id``)."""
    return suggestion_page(ctx.session, ctx.actor, status=query.status, before_id=query.before_id)


@endpoint(api.get, "/export.xlsx", permission=Permission.PLAN,
          response={"description": "Excel 文件：预测与补货建议", "content": {XLSX_MIME: {}}})
def export_planning(ctx: Ctx) -> Response:
    """The latest forecast's lines and the proposed suggestions as one workbook."""
    return planning_workbook_response(*planning_workbook(ctx))


def planning_workbook(ctx: Ctx) -> tuple[bytes, str]:
    found = export_lines(ctx.session, ctx.actor)
    suggestions = suggestion_page(ctx.session, ctx.actor, limit=EXPORT_SUGGESTIONS).rows
    name = f"需求计划_{found.run['first_week']}.xlsx" if found.run else "需求计划.xlsx"
    return planning_xlsx(org_name(ctx.session, ctx.actor.org_id), found.run, found.lines, found.items, found.sites,
                         suggestions), name


def planning_workbook_response(data: bytes, filename: str) -> Response:
    response = Response(data, content_type=XLSX_MIME)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"planning.xlsx\"; filename*=UTF-8''{quote(filename, safe='')}")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
