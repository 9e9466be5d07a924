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


#: The band sheet lists at most this many lines (a file that opens in seconds, not minutes); the
#: planned values of every item × site are all on the first sheet.
DETAIL_LIMIT = 5_000
LINE_COLUMNS = (Column("商品编码"), Column("商品"), Column("单位"), Column("地点"), Column("周（周一）", Kind.DATE),
                Column("模型预测", Kind.QTY), Column("80% 下限", Kind.QTY), Column("80% 上限", Kind.QTY),
                Column("95% 下限", Kind.QTY), Column("95% 上限", Kind.QTY), Column("计划值", Kind.QTY),
                Column("人工调整"))
SUGGESTION_COLUMNS = (Column("编号", Kind.INT), Column("类型"), Column("商品"), Column("单位"), Column("到达地点"),
                      Column("调出地点"), Column("供应商"), Column("数量", Kind.QTY), Column("单价", Kind.MONEY),
                      Column("状态"), Column("原因", width=60))


def planning_xlsx(org_name: str, run: Mapping[str, Any] | None, lines: Sequence[LineLike],
                  items: Mapping[int, tuple[str, str, str]], sites: Mapping[int, str],
                  suggestions: Sequence[SuggestionRowLike]) -> bytes:
    """Return the workbook: 计划 (an item × site a row, a week a column), 预测区间 (a line a row, with
    the model's figure and its 80 %/95 % bands) and 补货建议."""
    subtitle = (f"预测批次 #{run['id']}，自 {run['first_week']} 起 {run['horizon']} 周" if run else "尚无预测")
    weeks = sorted({ln.week for ln in lines})
    at = {w: n for n, w in enumerate(weeks)}
    wide: dict[tuple[int, int], list[Any]] = {}
    for ln in lines:
        row = wide.get((ln.item_id, ln.site_id))
        if row is None:
            code, name, unit = items.get(ln.item_id, ("", "", ""))
            row = [code, name, unit, sites.get(ln.site_id, ""), *([None] * len(weeks)), Decimal(0), 0]
            wide[(ln.item_id, ln.site_id)] = row
        row[4 + at[ln.week]] = ln.final
        row[-2] += ln.final
        row[-1] += 1 if ln.override_id else 0
    plan_columns = (Column("商品编码"), Column("商品"), Column("单位"), Column("地点"),
                    *(Column(f"{w:%m-%d} 周", Kind.QTY) for w in weeks), Column("合计", Kind.QTY),
                    Column("人工调整周数", Kind.INT))
    detail = []
    for ln in lines[:DETAIL_LIMIT]:
        code, name, unit = items.get(ln.item_id, ("", "", ""))
        detail.append((code, name, unit, sites.get(ln.site_id, ""), ln.week, ln.mean, ln.lo80, ln.hi80, ln.lo95,
                       ln.hi95, ln.final, "是" if ln.override_id else ""))
    cut: tuple[str, ...] = ()
    if len(lines) > DETAIL_LIMIT:
        cut = (f"只列出前 {DETAIL_LIMIT:,} 行（共 {len(lines):,} 行）；各周计划值见“计划”表。",)
    suggestion_rows = [(r.suggestion.suggestion_id, r.suggestion.kind_label, r.item_name, r.unit, r.site_name,
                        r.from_site_name or "", r.party_name or "", r.suggestion.quantity, r.suggestion.unit_price,
                        r.suggestion.status_label, r.suggestion.reason) for r in suggestions]
    return workbook([
        Sheet("计划", plan_columns, list(wide.values()), title=title_rows(org_name, "需求计划", subtitle)),
        Sheet("预测区间", LINE_COLUMNS, detail, title=title_rows(org_name, "预测与区间", subtitle), footer=cut),
        Sheet("补货建议", SUGGESTION_COLUMNS, suggestion_rows, title=title_rows(org_name, "补货建议", subtitle)),
    ])
