"""Fields of untyped JSON bodies and query strings (the plain-Flask planning and workflows APIs).

Each refuses bad input with a ValidationError naming the field, so a wrong type is a 422 in the
shared error shape, never a 500.
"""

from __future__ import annotations

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


def int_field(value: Any, name: str, *, required: bool = True) -> int | None:
    """Return ``value`` as an int (None when absent and not required)."""
    if _missing(value, name, required):
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{name} 须是整数", field=name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} 须是整数", field=name) from None


def date_field(value: Any, name: str, *, required: bool = True) -> date | None:
    """Return ``value`` (YYYY-MM-DD) as a date."""
    if _missing(value, name, required):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"{name} 须是日期（YYYY-MM-DD）", field=name) from None


def decimal_field(value: Any, name: str, *, required: bool = True) -> Decimal | None:
    """Return ``value`` as a finite Decimal."""
    if _missing(value, name, required):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"{name} 须是数字", field=name) from None
    if not number.is_finite():
        raise ValidationError(f"{name} 须是数字", field=name)
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
