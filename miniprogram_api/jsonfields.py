"""Fields of untyped JSON bodies and query strings (the plain-Flask planning and workflows APIs).

Each refuses bad input with a ValidationError naming the field, so a wrong type is a 422 in the
shared error shape, never a 500.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import request

from models.errors import ValidationError


def json_object() -> dict[str, Any]:
    """Return the request's JSON object; anything else is refused."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体须是 JSON 对象")
    return body


def optional_json_object() -> dict[str, Any]:
    """Return the JSON object sent, {} when nothing was sent; anything else is refused."""
    if not request.get_data(cache=True):
        return {}
    return json_object()


def _missing(value: Any, name: str, required: bool) -> bool:
    if value in (None, ""):
        if required:
            raise ValidationError(f"缺少 {name}", field=name)
        return True
    return False


#: ASCII digits only: Python's int() and Decimal() also read Arabic-Indic, full-width and other digits.
_ASCII_INT = re.compile(r"[+-]?[0-9]{1,18}")
_ASCII_DECIMAL = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,15})?")
_MAX_INT = 2**53
_MAX_DECIMAL = Decimal("1e15")


def int_field(value: Any, name: str, *, required: bool = True) -> int | None:
    """Return ``value`` as an int: a JSON integer or ASCII digits (never a bool, float or "١٢٣")."""
    if _missing(value, name, required):
        return None
    if isinstance(value, str) and _ASCII_INT.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{name} 须是整数", field=name)
    if abs(value) > _MAX_INT:  # larger than any id or count; a BIGINT column would answer 500
        raise ValidationError(f"{name} 超出范围", field=name)
    return value


def date_field(value: Any, name: str, *, required: bool = True) -> date | None:
    """Return ``value`` (YYYY-MM-DD text) as a date."""
    if _missing(value, name, required):
        return None
    try:
        if not isinstance(value, str) or not value.isascii():
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name} 须是日期（YYYY-MM-DD）", field=name) from None


def decimal_field(value: Any, name: str, *, required: bool = True) -> Decimal | None:
    """Return ``value`` as a finite Decimal: a JSON number or an ASCII decimal text."""
    if _missing(value, name, required):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValidationError(f"{name} 须是数字", field=name)
    if isinstance(value, str) and not _ASCII_DECIMAL.fullmatch(value):
        raise ValidationError(f"{name} 须是数字（阿拉伯数字 0-9，可带小数点）", field=name)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"{name} 须是数字", field=name) from None
    if not number.is_finite():
        raise ValidationError(f"{name} 须是数字", field=name)
    if abs(number) > _MAX_DECIMAL:
        raise ValidationError(f"{name} 超出范围", field=name)
    return number


def float_field(value: Any, name: str) -> float | None:
    """Return ``value`` as a float, or None when absent."""
    number = decimal_field(value, name, required=False)
    return float(number) if number is not None else None


def flag(value: Any) -> bool:
    """Read a form or query flag: 1/true/yes/on."""
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def id_list(value: Any, name: str) -> tuple[int, ...] | None:
    """Return a JSON list of ids, or None when absent."""
    if value in (None, "", []):
        return None
    if not isinstance(value, list):
        raise ValidationError(f"{name} 须是编号列表", field=name)
    return tuple(int_field(v, name) for v in value)  # type: ignore[misc]  # required: never None
