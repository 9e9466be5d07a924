"""Settings operations: edits are audited and renew the config version; refusals write nothing."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from models.catalog import Item
from models.errors import NotFound, PermissionDenied, ValidationError
from models.infra import AuditEntry
from models.operations.demand_import import ImportRejected
from models.operations.identity import IssueBindingCode, issue_binding_code
from models.operations.masterdata import CreateParty, create_party
from models.operations.masterdata_import import ImportKind, ImportMasterData, import_master_data
from models.operations.settings_admin import (
    RegisterMember,
    UpdateItem,
    UpdateMember,
    UpdateOrg,
    UpdateParty,
    UpdateSite,
    register_member,
    update_item,
    update_member,
    update_org,
    update_party,
    update_site,
)
from models.org import Member, Org, Party, PartyKind, Role
from models.queries.audit_log import audit_entries
from models.queries.settings_lists import items, members, parties
from models.uow import run
from tests.security.conftest import rows


def _version(session_factory, org_id: int) -> str:
    with session_factory() as s:
        return s.get_one(Org, org_id).config_version


def test_update_item_is_audited_and_renews_the_config_version(session_factory, demo, actors):
    version = _version(session_factory, demo.org_id)
    saved = run(session_factory, update_item, actors["赵经理"], UpdateItem(
        demo.items["茶青"], "茶青（鲜叶）", ("鲜叶",), 4, Decimal("9.5"), True, "改名"))
    assert saved.changed == ("aliases", "name", "sale_price", "shelf_life_days")
    assert _version(session_factory, demo.org_id) != version
    with session_factory() as s:
        assert s.get_one(Item, demo.items["茶青"]).name == "茶青（鲜叶）"
        entry = s.scalars(select(AuditEntry).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.action == "item.updated")).one()
        assert entry.before["name"] == "茶青" and entry.after["name"] == "茶青（鲜叶）"
        assert entry.actor_id == demo.members["赵经理"]
        page = audit_entries(s, actors["赵经理"], action="item.")
        assert [r.action for r in page.rows] == ["item.updated"]


def test_clerk_may_not_edit_items_or_sites(session_factory, engine, demo, actors):
    before = rows(engine)
    with pytest.raises(PermissionDenied):
        run(session_factory, update_item, actors["小周"], UpdateItem(demo.items["茶青"], "x"))
    with pytest.raises(PermissionDenied):
        run(session_factory, update_site, actors["赵经理"], UpdateSite(demo.sites["SX"], "x"))
    assert rows(engine) == before


def test_another_orgs_ids_are_not_found(session_factory, demo, actors):
    other = actors["赵经理"].__class__(org_id=demo.org_id + 10_000, member_id=None, roles=((Role.DIRECTOR, None),))
    for fn, cmd in ((update_item, UpdateItem(demo.items["茶青"], "x")),
                    (update_party, UpdateParty(demo.parties["王阿姨"], "x")),
                    (update_member, UpdateMember(demo.members["小周"], "x"))):
        with pytest.raises(NotFound):
            run(session_factory, fn, other, cmd)


def test_party_credit_terms_need_the_price_permission(session_factory, demo, actors):
    saved = run(session_factory, update_party, actors["赵经理"], UpdateParty(
        demo.parties["杭州茶城"], "杭州茶城", "0571-8888", 30, Decimal("50000")))
    assert "credit_days" in saved.changed
    with pytest.raises(PermissionDenied):  # a clerk may rename a customer, not grant credit
        run(session_factory, update_party, actors["小周"], UpdateParty(
            demo.parties["杭州茶城"], "杭州茶城", "0571-8888", 60, Decimal("50000")))
    with pytest.raises(ValidationError):
        run(session_factory, update_party, actors["赵经理"], UpdateParty(demo.parties["王阿姨"], "  "))


def test_manager_adds_a_farmer_member_but_not_staff(session_factory, engine, demo, actors):
    party = run(session_factory, create_party, actors["赵经理"], CreateParty("F900", "新农户", PartyKind.FARMER))
    member_id = run(session_factory, register_member, actors["赵经理"], RegisterMember(
        "新农户", "13800009999", party, ((Role.FARMER, None),)))
    issued = run(session_factory, issue_binding_code, actors["赵经理"], IssueBindingCode(member_id))
    assert len(issued.code.replace(" ", "")) == 12
    with session_factory() as s:
        assert s.get_one(Member, member_id).party_id == party
        page = members(s, actors["赵经理"], q="新农户")
        assert [m.id for m in page.rows] == [member_id]
        assert parties(s, actors["赵经理"], q="F900").rows[0].member_id == member_id
    before = rows(engine)
    with pytest.raises(PermissionDenied):  # a manager granting director
        run(session_factory, register_member, actors["赵经理"], RegisterMember("冒充", None, None,
                                                                               ((Role.DIRECTOR, None),)))
    with pytest.raises(ValidationError):  # one member account per farmer
        run(session_factory, register_member, actors["赵经理"], RegisterMember("再来", None, party,
                                                                               ((Role.FARMER, None),)))
    assert rows(engine) == before


def test_director_deactivates_a_member_not_themself(session_factory, demo, actors):
    run(session_factory, update_member, actors["钱总监"], UpdateMember(demo.members["小周"], "小周", None, False))
    with session_factory() as s:
        assert s.get_one(Member, demo.members["小周"]).active is False
    with pytest.raises(ValidationError):
        run(session_factory, update_member, actors["钱总监"], UpdateMember(demo.members["钱总监"], "钱总监",
                                                                         None, False))


def test_org_settings_are_validated_when_saved(session_factory, engine, demo, actors):
    run(session_factory, update_org, actors["钱总监"], UpdateOrg(
        "龙井山茶叶专业合作社", Decimal("0.6"), (("binding_code_minutes", Decimal(60)),)))
    with session_factory() as s:
        org = s.get_one(Org, demo.org_id)
        assert org.settings["binding_code_minutes"] == 60 and org.prepayment_ratio == Decimal("0.6")
    before = rows(engine)
    for bad in ((("binding_code_minutes", Decimal(99999)),), (("binding_code_minutes", Decimal("7.5")),),
                (("no_such", Decimal(1)),)):
        with pytest.raises(ValidationError):
            run(session_factory, update_org, actors["钱总监"], UpdateOrg("龙井山茶叶专业合作社", Decimal("0.6"), bad))
    with pytest.raises(PermissionDenied):
        run(session_factory, update_org, actors["赵经理"], UpdateOrg("x", Decimal("0.6")))
    assert rows(engine) == before


def workbook(header: list[str], *data: list[object]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in data:
        sheet.append(row)
    for line in sheet.iter_rows(min_row=2):
        for cell in line:  # text that looks like a formula is typed as text (as a CSV paste would be)
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ITEM_HEAD = ["编码", "名称", "基本单位", "类型", "保质期天数", "别名", "售价", "等级收购价"]


def test_item_import_is_all_or_nothing(session_factory, engine, demo, actors):
    content = workbook(ITEM_HEAD, ["BC", "白茶", "公斤", "重量", 365, "安吉白茶", 300, "特级=200、一级=150"],
                       ["HC", "红茶", "罐", "重量", None, None, None, None],  # a jar is not a weight
                       ["CQ", "重复", "公斤", None, None, None, None, None])  # code taken
    before = rows(engine)
    with pytest.raises(ImportRejected) as refused:
        run(session_factory, import_master_data, actors["赵经理"], ImportMasterData(ImportKind.ITEMS, content))
    report = refused.value.details["report"]
    assert {(e["row"], e["column"]) for e in report["errors"]} == {(3, "基本单位"), (4, "编码")}
    assert rows(engine) == before
    fixed = workbook(ITEM_HEAD, ["BC", "白茶", "公斤", "重量", 365, "安吉白茶", 300, "特级=200、一级=150"],
                     ["HC", "红茶", "罐", "计数", None, None, None, None])
    dry = run(session_factory, import_master_data, actors["赵经理"], ImportMasterData(ImportKind.ITEMS, fixed,
                                                                                    dry_run=True))
    assert dry.rows_valid == 2 and not dry.written and rows(engine) == before
    done = run(session_factory, import_master_data, actors["赵经理"], ImportMasterData(ImportKind.ITEMS, fixed))
    assert done.written and done.rows_valid == 2
    with session_factory() as s:
        found = {r.code: r for r in items(s, actors["赵经理"], q="茶").rows}
        assert [g.purchase_price for g in found["BC"].grades] == [Decimal(200), Decimal(150)]


def test_party_import_keeps_formula_looking_text_as_text(session_factory, demo, actors):
    run(session_factory, import_master_data, actors["赵经理"], ImportMasterData(ImportKind.PARTIES, workbook(
        ["编码", "名称", "类型", "手机号"], ["F100", "=HYPERLINK(\"http://x\",\"点我\")", "农户", "13700000000"])))
    with session_factory() as s:
        party = s.scalars(select(Party).where(Party.org_id == demo.org_id, Party.code == "F100")).one()
        assert party.name.startswith("=HYPERLINK")  # kept as the text it is


def test_a_farmer_added_by_a_manager_is_audited_once_under_their_name(session_factory, demo, actors):
    party = run(session_factory, create_party, actors["赵经理"], CreateParty("F901", "又一户", PartyKind.FARMER))
    member_id = run(session_factory, register_member, actors["赵经理"], RegisterMember(
        "又一户", None, party, ((Role.FARMER, None),)))
    with session_factory() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "member.created",
                                                     AuditEntry.entity_id == str(member_id))).all()
        assert [e.actor_id for e in entries] == [demo.members["赵经理"]]
