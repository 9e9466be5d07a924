"""Pieces the collaboration pages share: form parsing that never raises, and the request id of a form."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from models.errors import ValidationError


def new_request_id() -> str:
    """An idempotency key for one rendered form: a double submit of that form is done once."""
    return uuid.uuid4().hex


def request_key(raw: str | None) -> str | None:
    """The form's request id if it looks like one we handed out (anything else: no key)."""
    return raw if raw and len(raw) == 32 and all(c in "0123456789abcdef" for c in raw) else None


def decimal_field(raw: str | None, label: str, name: str) -> Decimal:
    """A finite decimal typed into a form, or a Chinese ValidationError (never a 500)."""
    text = (raw or "").strip().replace(",", "").replace("，", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"{label}须是数字", field=name) from None
    # Bounded before any arithmetic: 1e999999999 / 100 would overflow the decimal context (a 500).
    if not value.is_finite() or len(text) > 30 or not -30 <= value.adjusted() <= 30:
        raise ValidationError(f"{label}须是有限的、合理大小的数字", field=name)
    return value


def page_after(raw: str | None) -> int:
    """The keyset cursor of a 更多 link (junk or negative: the first page)."""
    return int(raw) if raw and raw.isdigit() and len(raw) < 16 else 0
