"""Money as people write it on paper: 大写 (the Chinese capital amount on vouchers and notes)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")


def rmb_upper(value: Decimal) -> str:
    """壹仟零壹元整: the amount in Chinese capital numerals, rounded to the fen half-up.

    cn2an's "rmb" mode writes the figure (元/角/分, 零 for skipped places, 整 after whole yuan);
    we give it an exact decimal string, never a float, and say 负 for a red-ink amount.
    """
    import cn2an  # imported when a document is printed: it loads its tables at import (~70 ms)

    fen = Decimal(value).quantize(FEN, ROUND_HALF_UP)
    if not fen.is_finite():
        raise ValueError(f"not an amount: {value}")
    words = str(cn2an.an2cn(format(abs(fen), "f"), "rmb"))
    return f"负{words}" if fen < 0 else words


def money_text(value: Decimal) -> str:
    """1,234.50: an amount in figures, to the fen, with thousands separators."""
    return f"{Decimal(value).quantize(FEN, ROUND_HALF_UP):,.2f}"


def quantity_text(value: Decimal) -> str:
    """A quantity without trailing zeros ("11.75", not "11.750000"; "5", not "5.000000")."""
    text = format(Decimal(value).normalize(), "f")
    return text
