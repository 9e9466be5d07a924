"""The planning workbook: the latest forecast's lines and the replenishment suggestions, one sheet each.

Reads the planning board's results through the small Protocols below (exports/ imports no models).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from exports.xlsx import Column, Kind, Sheet, title_rows, workbook


class LineLike(Protocol):
    @property
    def item_id(self) -> int: ...
    @property
    def site_id(self) -> int: ...
    @property
    def week(self) -> date: ...
    @property
    def mean(self) -> Decimal: ...
    @property
    def lo80(self) -> Decimal: ...
    @property
    def hi80(self) -> Decimal: ...
    @property
    def lo95(self) -> Decimal: ...
    @property
    def hi95(self) -> Decimal: ...
    @property
    def final(self) -> Decimal: ...
    @property
    def override_id(self) -> int | None: ...
    @property
    def method_label(self) -> str: ...


class SuggestionLike(Protocol):
    @property
    def suggestion_id(self) -> int: ...
    @property
    def kind_label(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def reason(self) -> str: ...
    @property
    def status_label(self) -> str: ...


class SuggestionRowLike(Protocol):
    @property
    def suggestion(self) -> SuggestionLike: ...
    @property
    def item_name(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def site_name(self) -> str: ...
    @property
    def from_site_name(self) -> str | None: ...
    @property
    def party_name(self) -> str | None: ...


LINE_COLUMNS = (Column("商品编码"), Column("商品"), Column("单位"), Column("地点"), Column("周（周一）", Kind.DATE),
                Column("模型预测", Kind.QTY), Column("80% 下限", Kind.QTY), Column("80% 上限", Kind.QTY),
                Column("95% 下限", Kind.QTY), Column("95% 上限", Kind.QTY), Column("计划值", Kind.QTY),
                Column("人工调整"), Column("方法"))
SUGGESTION_COLUMNS = (Column("编号", Kind.INT), Column("类型"), Column("商品"), Column("单位"), Column("到达地点"),
                      Column("调出地点"), Column("供应商"), Column("数量", Kind.QTY), Column("单价", Kind.MONEY),
                      Column("状态"), Column("原因", width=60))


def planning_xlsx(org_name: str, run: Mapping[str, Any] | None, lines: Sequence[LineLike],
                  items: Mapping[int, tuple[str, str, str]], sites: Mapping[int, str],
                  suggestions: Sequence[SuggestionRowLike]) -> bytes:
    """Return the workbook: 预测 (one row per item × site × week) and 补货建议."""
    subtitle = (f"预测批次 #{run['id']}，自 {run['first_week']} 起 {run['horizon']} 周" if run else "尚无预测")
    line_rows = []
    for ln in lines:
        code, name, unit = items.get(ln.item_id, ("", "", ""))
        line_rows.append((code, name, unit, sites.get(ln.site_id, ""), ln.week, ln.mean, ln.lo80, ln.hi80, ln.lo95,
                          ln.hi95, ln.final, "是" if ln.override_id else "", ln.method_label))
    suggestion_rows = [(r.suggestion.suggestion_id, r.suggestion.kind_label, r.item_name, r.unit, r.site_name,
                        r.from_site_name or "", r.party_name or "", r.suggestion.quantity, r.suggestion.unit_price,
                        r.suggestion.status_label, r.suggestion.reason) for r in suggestions]
    return workbook([
        Sheet("预测", LINE_COLUMNS, line_rows, title=title_rows(org_name, "需求预测", subtitle)),
        Sheet("补货建议", SUGGESTION_COLUMNS, suggestion_rows, title=title_rows(org_name, "补货建议", subtitle)),
    ])
