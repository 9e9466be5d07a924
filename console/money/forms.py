"""Strict parsing of the money pages' form and query fields: junk is a Chinese ValidationError
(shown on the page or flashed), never a 500 and never a guess."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from console.blueprint import bp
from console.forms import MAX_ID
from models.base import utcnow
from models.errors import NotFound, ValidationError
from models.subledger import Side
from models.timeutil import local_date, period_of

_AMOUNT = re.compile(r"^[0-9]{1,13}(\.[0-9]{1,2})?$")
SIDE_NAMES = {"receivable": Side.RECEIVABLE, "payable": Side.PAYABLE}


def amount(value: str | None, field: str = "amount", label: str = "金额") -> Decimal:
    """Yuan to the fen, positive, at most a trillion (the operations check again)."""
    text = (value or "").strip().replace(",", "")
    if not _AMOUNT.match(text):
        raise ValidationError(f"{label}应为正数，最多两位小数，如 1200.50", field=field)
    try:
        found = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already refused it
        raise ValidationError(f"{label}无效", field=field) from None
    if found <= 0:
        raise ValidationError(f"{label}必须大于零", field=field)
    return found


def day(value: str | None, field: str, default: date | None = None) -> date:
    """An ISO day (2026-12-05) between 2000 and 2099; ``default`` when empty."""
    text = (value or "").strip()
    if not text and default is not None:
        return default
    try:
        found = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        found = None
    if found is None or not 2000 <= found.year <= 2099:
        raise ValidationError("日期应写作 2026-12-05", field=field)
    return found


def side(value: str | None) -> Side:
    found = SIDE_NAMES.get(value or "receivable")
    if found is None:
        raise ValidationError("只能查看应收（receivable）或应付（payable）", field="side")
    return found


def choice(value: str | None, allowed: tuple[str, ...], field: str) -> str:
    text = value or allowed[0]
    if text not in allowed:
        raise ValidationError("选项无效", field=field)
    return text


def today() -> date:
    return local_date(utcnow())


def this_period() -> str:
    return period_of(utcnow())


@bp.url_value_preprocessor
def _bounded_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A money page's path id beyond what an id can be (``<int:…>`` takes any digits) is not found,
    not a database overflow."""
    if not endpoint or not endpoint.startswith("console.money") or not values:
        return
    for name, value in values.items():
        if isinstance(value, int) and not 1 <= value <= MAX_ID:
            raise NotFound("找不到这条记录", entity=name, id=str(value))
