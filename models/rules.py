"""Rules business users write, stored as data: trigger, condition (JSON-logic), actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin


class Rule(IdMixin, OrgMixin, CreatedMixin, Base):
    """The current version of a rule; every change also lands in ``rule_versions`` and the audit log."""

    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    code: Mapped[str] = mapped_column(String(48))
    name: Mapped[str] = mapped_column(String(128))
    #: Event kind, e.g. "lot.qc_failed", "stock.below_safety", "sensor.out_of_range".
    trigger: Mapped[str] = mapped_column(String(48), index=True)
    #: A JSON-logic expression over {"event": payload, "kind": ...}; {} means always.
    condition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: [{"type": "notify", "role": "storekeeper", "channel": "dingtalk", "text": "..."}, ...]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))


class RuleVersion(IdMixin, OrgMixin, CreatedMixin, Base):
    """An immutable snapshot of a rule as it was at one version."""

    __tablename__ = "rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    rule_id: Mapped[int] = mapped_column(BigId, ForeignKey("rules.id"))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
