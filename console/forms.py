"""Strict readers for console form fields: junk becomes a Chinese ValidationError, never a 500.

Shared by the settings and import pages (other sections may use them too). The bounds here are
input shape only; what a value means is checked again by the operation.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal, overload

from flask import request

from models.errors import NotFound, ValidationError

_INT = re.compile(r"^-?\d{1,12}$")
_DECIMAL = re.compile(r"^-?\d{1,13}(\.\d{1,6})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID = re.compile(r"^[0-9]{1,16}$")
#: Ids are positive and fit a JavaScript number (as the API's); a bigger one is nobody's.
MAX_ID = 2**53


def text(name: str, label: str, *, max_len: int = 128, required: bool = False) -> str:
    """A trimmed text field."""
    value = (request.form.get(name) or "").strip()
    if required and not value:
        raise ValidationError(f"请填写{label}", field=name)
    if len(value) > max_len:
        raise ValidationError(f"{label}最多 {max_len} 个字", field=name)
    return value


def integer(name: str, label: str, *, required: bool = False, source: str = "form") -> int | None:
    """An ASCII integer (no signs of floats, no full-width digits), or None when empty and optional."""
    raw = ((request.form if source == "form" else request.args).get(name) or "").strip()
    if not raw:
        if required:
            raise ValidationError(f"请填写{label}", field=name)
        return None
    if not (raw.isascii() and _INT.match(raw)):
        raise ValidationError(f"{label}应为整数", field=name)
    return int(raw)


def decimal(name: str, label: str, *, required: bool = False) -> Decimal | None:
    """A plain decimal (at most 13 integer and 6 fraction digits; no exponent, no NaN)."""
    raw = (request.form.get(name) or "").strip().replace(",", "")
    if not raw:
        if required:
            raise ValidationError(f"请填写{label}", field=name)
        return None
    if not (raw.isascii() and _DECIMAL.match(raw)):
        raise ValidationError(f"{label}应为数字（最多 6 位小数）", field=name)
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise ValidationError(f"{label}应为数字", field=name) from None


@overload
def parse_id(raw: str | None, field: str, label: str, *, required: Literal[True]) -> int: ...
@overload
def parse_id(raw: str | None, field: str, label: str, *, required: bool = False) -> int | None: ...
def parse_id(raw: str | None, field: str, label: str, *, required: bool = False) -> int | None:
    """A positive id picked or typed in a form or query ("" is None, or 请选择 when required); ASCII digits
    only, at most MAX_ID; anything else is ``{label}无效``."""
    text = (raw or "").strip()
    if not text:
        if required:
            raise ValidationError(f"请选择{label}", field=field)
        return None
    if not (_ID.match(text) and 1 <= int(text) <= MAX_ID):
        raise ValidationError(f"{label}无效", field=field)
    return int(text)


def path_id(value: int, label: str = "") -> int:
    """An id from the URL (``<int:…>`` takes any digits): one beyond what an id can be is not found, the
    same answer as another organisation's id, never a database overflow."""
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"找不到{label or '该对象'}（编号 {value}）", id=value)
    return value


def checked(name: str) -> bool:
    """A checkbox."""
    return request.form.get(name) in ("1", "on", "true")


def query_date(name: str, label: str) -> date | None:
    """A yyyy-mm-dd query parameter, or None."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not _DATE.match(raw):
        raise ValidationError(f"{label}应为 年-月-日", field=name)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{label}不是有效日期", field=name) from None
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        raise ValidationError(f"{label}超出范围", field=name)
    return day


#: The hidden field every console form carries its one-time id in.
REQUEST_FIELD = "request_id"
#: What a form whose one-time id is missing or mangled says (an old page, or a hand-made post).
STALE_FORM = "表单已失效，请刷新页面后重试"
_REQUEST_ID = re.compile(r"^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def new_request_id() -> str:
    """A fresh one-time id for a form being rendered (32 hex digits)."""
    return uuid.uuid4().hex


@overload
def request_key(action: str = "", *, required: Literal[True]) -> str: ...
@overload
def request_key(action: str = "", *, required: bool = False) -> str | None: ...
def request_key(action: str = "", *, required: bool = False) -> str | None:
    """The idempotency key of the posted form, from its one-time ``request_id`` (minted when the form
    was rendered): a double submit of the same form replays the first answer instead of acting twice.

    ``action`` scopes the key when one page hands the same id to several forms (accept and dismiss of
    one suggestion must not replay each other). Without an id: None, or the stale-form error when the
    form must carry one. A mangled id is always the stale-form error, never silently no key.
    """
    raw = (request.form.get(REQUEST_FIELD) or "").strip()
    if not raw:
        if required:
            raise ValidationError(STALE_FORM, field=REQUEST_FIELD)
        return None
    if not _REQUEST_ID.match(raw):
        raise ValidationError(STALE_FORM, field=REQUEST_FIELD)
    value = uuid.UUID(raw).hex
    return f"console.{action}:{value}" if action else f"console:{value}"
