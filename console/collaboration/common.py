"""Pieces the collaboration pages share: form parsing that never raises (a form's request id: console.forms)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from models.errors import ValidationError


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
