"""Shared set-up of the money section's console tests: deliveries of 王阿姨 and a second co-op."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, select

from models.actor import load_actor
from models.demo import DemoOrg, seed_demo
from models.documents import DocKind, Document
from models.finance import FarmerSettlement, MappingRule
from models.uow import run
from tests.miniprogram_api.fixtures_3b import receive

_KEY = re.compile(r'name="request_id" value="([0-9a-f]{32})"')


def request_id_of(page: str) -> str:
    """The idempotency key a money form carries (as the browser would send it back)."""
    found = _KEY.search(page)
    assert found, "no request_id on the page"
    return found.group(1)


def deliveries(session_factory: Any, demo: DemoOrg, actors: dict, count: int = 2) -> list[Any]:
    """``count`` deliveries of 茶青 by 王阿姨 at 绍兴 (20, 30 … kg)."""
    return [receive(session_factory, demo, actors, qty=str(20 + 10 * n)) for n in range(count)]


def settlement_ids(session_factory: Any, org_id: int) -> dict[int, int]:
    """receipt id → its farmer_settlements id."""
    with session_factory() as s:
        return dict(s.execute(select(FarmerSettlement.receipt_id, FarmerSettlement.id)
                              .where(FarmerSettlement.org_id == org_id)).all())


def documents(session_factory: Any, org_id: int, kind: DocKind) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Document).where(
            Document.org_id == org_id, Document.kind == kind)) or 0


def farmer_rule_id(session_factory: Any, org_id: int) -> int:
    """The active receipt rule for farmers (库存商品 / 应付农户款)."""
    with session_factory() as s:
        return s.scalars(select(MappingRule.id).where(
            MappingRule.org_id == org_id, MappingRule.event == "receipt.posted", MappingRule.active.is_(True),
            MappingRule.condition["party_kind"].as_string() == "farmer")).one()


def other_org(session_factory: Any) -> tuple[DemoOrg, dict[str, Any]]:
    """A second co-operative with one delivery of its 王阿姨 (its parties, vouchers and rules must
    never show in the first's console), and its people as actors."""
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:12]}", "另一个合作社")
    with session_factory() as s:
        people = {name: load_actor(s, member_id) for name, member_id in other.members.items()}
    receive(session_factory, other, people, qty="11")
    return other, people
