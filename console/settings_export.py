"""Every settings list as .xlsx: the same queries as the pages, written by exports.xlsx (text cells
stay text: a name "=HYPERLINK(…)" never becomes a formula in the file)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from flask import request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from console import forms
from console.blueprint import bp
from console.web import actor, error_page, member_page, read_db
from exports.xlsx import XLSX_MIME, Column, Kind, Sheet, workbook
from models.org import ROLE_LABELS
from models.queries import settings_lists as lists
from models.queries.audit_log import action_label, audit_entries


def send_xlsx(data: bytes, filename: str) -> Response:
    """An .xlsx download with a Chinese file name (RFC 6266) and no copy in any cache."""
    response = Response(data, content_type=XLSX_MIME)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"export.xlsx\"; filename*=UTF-8''{quote(filename, safe='')}")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _yes(value: bool) -> str:
    return "启用" if value else "停用"


def _items() -> Sheet:
    rows = lists.all_pages(lambda **kw: lists.items(read_db(), actor(), **kw))
    return Sheet("商品", [Column("编码"), Column("名称"), Column("基本单位"), Column("类型"),
                        Column("保质期天数", Kind.INT), Column("别名"), Column("售价", Kind.MONEY),
                        Column("等级收购价"), Column("包装"), Column("状态")],
                 ([r.code, r.name, r.base_unit, "计数" if r.dimension == "count" else "重量", r.shelf_life_days,
                   r.aliases.replace(",", "、"), r.sale_price,
                   "、".join(f"{g.name}={g.purchase_price.normalize():f}" for g in r.grades), "、".join(r.packs),
                   _yes(r.active)] for r in rows))


def _parties() -> Sheet:
    rows = lists.all_pages(lambda **kw: lists.parties(read_db(), actor(), **kw))
    return Sheet("往来单位", [Column("编码"), Column("名称"), Column("类型"), Column("手机号"),
                          Column("账期天数", Kind.INT), Column("信用额度", Kind.MONEY),
                          Column("税率", Kind.PERCENT), Column("状态")],
                 ([r.code, r.name, lists.PARTY_KIND_LABELS[r.kind], r.phone, r.credit_days, r.credit_limit,
                   r.vat_rate, _yes(r.active)] for r in rows))


def _members() -> Sheet:
    rows = lists.all_pages(lambda **kw: lists.members(read_db(), actor(), **kw))
    return Sheet("成员", [Column("姓名"), Column("手机号"), Column("角色"), Column("已绑定账号", Kind.INT),
                        Column("加入时间", Kind.DATETIME), Column("状态")],
                 ([r.name, r.phone, "、".join(f"{ROLE_LABELS[x.role]}@{x.site_name}" for x in r.roles), r.bindings,
                   r.created_at, _yes(r.active)] for r in rows))


def _sites() -> Sheet:
    return Sheet("地点", [Column("编码"), Column("名称"), Column("类型"), Column("允许负库存"), Column("状态")],
                 [[s.code, s.name, lists.SITE_KIND_LABELS[s.kind], "是" if s.allow_negative else "否", _yes(s.active)]
                  for s in lists.sites(read_db(), actor())])


def _audit() -> Sheet:
    def fetch(after_id: int | None, limit: int) -> lists.Page:
        return audit_entries(read_db(), actor(), before_id=after_id, limit=limit,
                             since=forms.query_date("since", "开始日期"), until=forms.query_date("until", "结束日期"),
                             action=(request.args.get("action") or "")[:48],
                             actor_id=forms.integer("actor_id", "操作人", source="args"),
                             entity_id=(request.args.get("entity_id") or "").strip()[:64])
    rows = lists.all_pages(fetch)
    return Sheet("审计日志", [Column("时间", Kind.DATETIME), Column("操作人"), Column("事项"), Column("代码"),
                          Column("对象"), Column("编号"), Column("改前"), Column("改后"), Column("原因")],
                 ([r.at, r.actor_name, action_label(r.action), r.action, r.entity, r.entity_id,
                   _json(r.before), _json(r.after), r.reason] for r in rows))


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)[:2000]


EXPORTS: dict[str, tuple[str, Callable[[], Sheet]]] = {
    "items": ("商品", _items), "parties": ("往来单位", _parties), "members": ("成员", _members),
    "sites": ("地点", _sites), "audit": ("审计日志", _audit),
}


@bp.get("/settings/export/<name>.xlsx")
@member_page()
def settings_export(name: str) -> ResponseReturnValue:
    if name not in EXPORTS:
        return error_page("NOT_FOUND", "没有这个导出", 404)
    label, build = EXPORTS[name]
    sheets: Sequence[Sheet] = [build()]
    return send_xlsx(workbook(sheets), f"{label}.xlsx")
