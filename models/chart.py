"""What every new organisation starts with: units, chart of accounts, default mapping rules."""

from __future__ import annotations

from decimal import Decimal

from models.finance import AccountCategory

#: Mass units and kilograms per unit. 斤 and 两 are the market units (市制).
MASS_UNITS: dict[str, Decimal] = {
    "公斤": Decimal(1), "千克": Decimal(1), "kg": Decimal(1), "斤": Decimal("0.5"), "市斤": Decimal("0.5"),
    "两": Decimal("0.05"), "克": Decimal("0.001"), "g": Decimal("0.001"), "吨": Decimal(1000), "t": Decimal(1000),
}

_A, _L, _E, _C, _P = (AccountCategory.ASSET, AccountCategory.LIABILITY, AccountCategory.EQUITY,
                      AccountCategory.COST, AccountCategory.PROFIT_LOSS)

#: (code, name, category, normal side), after 小企业会计准则 (codes as the issue lists them).
ACCOUNTS: list[tuple[str, str, AccountCategory, str]] = [
    ("1001", "库存现金", _A, "debit"),
    ("1002", "银行存款", _A, "debit"),
    ("1122", "应收账款", _A, "debit"),
    ("1123", "预付账款", _A, "debit"),
    ("1221", "其他应收款", _A, "debit"),
    ("1402", "在途物资", _A, "debit"),
    ("1403", "原材料", _A, "debit"),
    ("1405", "库存商品", _A, "debit"),
    ("1901", "待处理财产损溢", _A, "debit"),
    ("2202", "应付账款", _L, "credit"),
    ("2203", "预收账款", _L, "credit"),
    ("2211", "应付职工薪酬", _L, "credit"),
    ("2221", "应交税费", _L, "credit"),
    # 应交增值税 sub-accounts (issue 12, VAT): the parent 2221 stays, reports roll up by code prefix.
    ("222101", "应交增值税(进项税额)", _L, "credit"),
    ("222102", "应交增值税(销项税额)", _L, "credit"),
    ("3001", "实收资本", _E, "credit"),
    ("3103", "本年利润", _E, "credit"),
    # 期初库存 is credited here (a migration adds it to organisations created before).
    ("3104", "利润分配", _E, "credit"),
    ("5001", "生产成本", _C, "debit"),
    ("6001", "主营业务收入", _P, "credit"),
    ("6051", "其他业务收入", _P, "credit"),
    ("6401", "主营业务成本", _P, "debit"),
    ("6402", "其他业务成本", _P, "debit"),
    ("6601", "销售费用", _P, "debit"),
    ("6602", "管理费用", _P, "debit"),
    ("6711", "营业外支出", _P, "debit"),
]


def _l(account: str, side: str, amount: str, memo: str = "") -> dict[str, str]:
    return {"account": account, "side": side, "amount": amount, "memo": memo}


#: 应交增值税 sub-accounts the default rules post tax to (a migration moves older orgs' rules here).
INPUT_VAT, OUTPUT_VAT = "222101", "222102"

#: Figures each posting event supplies to its rules.
EVENT_AMOUNTS: dict[str, set[str]] = {
    "receipt.posted": {"goods", "tax", "total"},
    "shipment.posted": {"revenue", "tax", "total", "cost"},
    "transfer.dispatched": {"cost"},
    "transfer.received": {"cost"},
    "count.posted": {"gain", "loss"},
    "opening.posted": {"value"},
    "settlement.paid": {"amount"},
    "money.received": {"amount"},
    "money.paid": {"amount"},
}

#: 收款单 / 付款单: cash or bank against the party's receivable or payable (issue 12; a migration
#: gives organisations created before them the same rules).
MONEY_RULES: list[tuple[str, str, dict[str, str], int, list[dict[str, str]]]] = [
    ("money.received", "现金收款", {"via": "cash"}, 10, [
        _l("1001", "debit", "amount", "库存现金"), _l("1122", "credit", "amount", "应收账款"),
    ]),
    ("money.received", "银行收款", {}, 0, [
        _l("1002", "debit", "amount", "银行存款"), _l("1122", "credit", "amount", "应收账款"),
    ]),
    ("money.paid", "现金付款", {"via": "cash"}, 10, [
        _l("2202", "debit", "amount", "应付账款"), _l("1001", "credit", "amount", "库存现金"),
    ]),
    ("money.paid", "银行付款", {}, 0, [
        _l("2202", "debit", "amount", "应付账款"), _l("1002", "credit", "amount", "银行存款"),
    ]),
]

#: (event, name, condition, priority, lines)
DEFAULT_RULES: list[tuple[str, str, dict[str, str], int, list[dict[str, str]]]] = [
    ("receipt.posted", "农户交售入库", {"party_kind": "farmer"}, 10, [
        _l("1405", "debit", "goods", "库存商品"), _l("2202", "credit", "goods", "应付农户款"),
    ]),
    ("receipt.posted", "采购入库", {}, 0, [
        _l("1405", "debit", "goods", "库存商品"), _l(INPUT_VAT, "debit", "tax", "进项税额"),
        _l("2202", "credit", "total", "应付账款"),
    ]),
    ("shipment.posted", "销售出库", {}, 0, [
        _l("1122", "debit", "total", "应收账款"), _l("6001", "credit", "revenue", "主营业务收入"),
        _l(OUTPUT_VAT, "credit", "tax", "销项税额"), _l("6401", "debit", "cost", "主营业务成本"),
        _l("1405", "credit", "cost", "库存商品"),
    ]),
    ("transfer.dispatched", "调拨发出", {}, 0, [
        _l("1402", "debit", "cost", "在途物资"), _l("1405", "credit", "cost", "库存商品"),
    ]),
    ("transfer.received", "调拨收货", {}, 0, [
        _l("1405", "debit", "cost", "库存商品"), _l("1402", "credit", "cost", "在途物资"),
    ]),
    ("count.posted", "盘点调整", {}, 0, [
        _l("1405", "debit", "gain", "盘盈"), _l("1901", "credit", "gain", "盘盈"),
        _l("1901", "debit", "loss", "盘亏"), _l("1405", "credit", "loss", "盘亏"),
    ]),
    ("opening.posted", "期初库存", {}, 0, [
        _l("1405", "debit", "value", "期初库存"), _l("3104", "credit", "value", "期初库存"),
    ]),
    ("settlement.paid", "农户结算付款", {}, 0, [
        _l("2202", "debit", "amount", "应付农户款"), _l("1002", "credit", "amount", "银行存款"),
    ]),
    *MONEY_RULES,
]
