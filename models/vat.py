"""VAT (增值税) basics: which rate a document line carries, and its tax to the fen.

Precedence, first that is set wins:
1. the rate the caller gives on the document (ReceiveGoods/ShipGoods ``tax_rate``);
2. the party's ``vat_rate`` (a 小规模纳税人 supplier at 3 %, an exempt customer at 0); a farmer
   (农业生产者 selling own produce, 免税) without one is 0;
3. the item's ``vat_rate`` (13 % goods, 9 % 农产品 …);
4. the organisation's default, ``orgs.settings["vat_rate"]`` — 0 unless set, so nothing changes for
   an organisation that never set a rate.

The tax of a line is its amount before tax × the rate, rounded half-up to the fen once, where it is
booked; a document's tax is the sum of its lines' taxes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from models.errors import ValidationError
from models.ledger import money
from models.org import PartyKind

#: Rates are kept to four decimals (ScaledDecimal(6, 4)): 0.13, 0.09, 0.03, 0.015 …
RATE_PLACES = 4
_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)
ZERO = Decimal(0)
#: The org setting that holds the default rate.
ORG_SETTING = "vat_rate"


def check_rate(value: Any, field: str = "vat_rate") -> Decimal:
    """A rate as a Decimal with 0 ≤ rate < 1 and at most four decimals, else ValidationError."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError("税率须是数字", field=field)
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise ValidationError("税率须是数字", field=field) from None
    if not rate.is_finite() or not ZERO <= rate < 1:
        raise ValidationError("税率应在 0 到 1 之间（如 0.13）", field=field)
    if rate != rate.quantize(_QUANTUM):
        raise ValidationError("税率最多四位小数", field=field)
    return rate.quantize(_QUANTUM)


def org_default_rate(settings: Mapping[str, Any]) -> Decimal:
    """The org's default rate; 0 when unset or unusable (a bad setting never invents a tax)."""
    raw = settings.get(ORG_SETTING)
    if raw is None:
        return ZERO
    try:
        return check_rate(raw if not isinstance(raw, float) else str(raw))
    except ValidationError:
        return ZERO


def resolve_rate(explicit: Decimal | None, party_rate: Decimal | None, party_kind: PartyKind | None,
                 item_rate: Decimal | None, settings: Mapping[str, Any]) -> Decimal:
    """The rate a document line carries (see the module docstring for the order)."""
    if explicit is not None:
        return check_rate(explicit, "tax_rate")
    if party_rate is not None:
        return party_rate
    if party_kind == PartyKind.FARMER:
        return ZERO
    if item_rate is not None:
        return item_rate
    return org_default_rate(settings)


def check_party_rate(kind: PartyKind | None, rate: Decimal | None, field: str = "vat_rate") -> None:
    """A farmer's rate can only be 0: the farmer rule books no tax line (免税 own produce), so a tax
    would be owed to her but never booked."""
    if rate and kind == PartyKind.FARMER:
        raise ValidationError("农户销售自产农产品免税，税率只能为 0", field=field)


def line_tax(amount: Decimal, rate: Decimal) -> Decimal:
    """The tax on a line's amount before tax: rounded half-up to the fen."""
    return money(amount * rate)


#: 发票号码: 8 digits (paper VAT invoices), 20 (全电发票), some with letters; at most 32.
INVOICE_NUMBER_MAX = 32


def check_invoice_number(value: str | None) -> str | None:
    """An invoice number stripped, of ASCII letters, digits and '-' only, at most 32; '' or None clears it."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > INVOICE_NUMBER_MAX or not all(c.isascii() and (c.isalnum() or c == "-") for c in text):
        raise ValidationError(f"发票号码只能是字母、数字或“-”，最多 {INVOICE_NUMBER_MAX} 位", field="invoice_number")
    return text
