"""Digits of other scripts are not numbers here: "١٢" (Arabic-Indic 12) in a path or a bind code is refused,
never read as 12 (issue 10 finding 16)."""

from __future__ import annotations

from bot.intents import Bind, match_bind
from tests.security.conftest import assert_refused


def test_a_path_id_in_arabic_indic_digits_is_not_found(client, demo, as_):
    item = demo.items["茶青"]
    assert client.get(f"/api/v1/stock/{item}/lots", headers=as_("赵经理")).status_code == 200
    arabic = "".join(chr(0x0660 + int(c)) for c in str(item))
    assert_refused(client.get(f"/api/v1/stock/{arabic}/lots", headers=as_("赵经理")), 404, "NOT_FOUND")


def test_a_bind_code_keeps_only_ascii_digits():
    assert match_bind("绑定 4821 7730 1956") == Bind("482177301956")
    assert match_bind("绑定 ４８２１７７３０１９５６") == Bind("482177301956")  # full-width folded
    assert match_bind("绑定 ٤٨٢١٧٧٣٠١٩٥٦") == Bind("")  # never the same code read from another script
    assert match_bind("库存 茶青") is None
