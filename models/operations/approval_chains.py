"""Editing approval chains as commands: create or change a chain, switch it on or off (audited).

A running approval keeps the steps it copied when it opened (models.operations.approvals), so
changing or retiring a chain only affects documents opened afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.approvals import ApprovalChain
from models.audit import record_audit
from models.idempotency import idempotent
from models.lookup import get_owned
from models.operations.approvals import ChainSpec, check_chain, create_chain


@dataclass(frozen=True)
class SaveChain:
    """Create a chain (``chain_id`` None) or replace an existing chain's settings."""

    spec: ChainSpec
    chain_id: int | None = None


@dataclass(frozen=True)
class ChainSaved:
    chain_id: int
    active: bool


def _body(chain: ApprovalChain) -> dict[str, object]:
    return {"doc_kind": chain.doc_kind, "name": chain.name, "min_value": str(chain.min_value),
            "urgent": chain.urgent, "steps": chain.steps, "active": chain.active}


@idempotent("approval_chain.save")
def save_chain(session: Session, actor: Actor, cmd: SaveChain) -> ChainSaved:
    """Create or change an approval chain (validated by :func:`check_chain`, audited with before/after)."""
    actor.require(Permission.ROLES)
    if cmd.chain_id is None:
        created = create_chain(session, actor, cmd.spec)
        return ChainSaved(created.id, created.active)
    steps = check_chain(cmd.spec)
    chain = get_owned(session, ApprovalChain, cmd.chain_id, actor.org_id, lock=True)
    before = _body(chain)
    chain.doc_kind, chain.name, chain.min_value = cmd.spec.doc_kind, cmd.spec.name.strip(), cmd.spec.min_value
    chain.urgent, chain.steps = cmd.spec.urgent, steps
    record_audit(session, actor, "approval_chain.update", "approval_chain", chain.id, before=before,
                 after=_body(chain))
    return ChainSaved(chain.id, chain.active)


@dataclass(frozen=True)
class SwitchChain:
    chain_id: int
    active: bool


@idempotent("approval_chain.switch")
def switch_chain(session: Session, actor: Actor, cmd: SwitchChain) -> ChainSaved:
    """Retire a chain (documents fall back to the next fitting chain or the default) or bring it back."""
    actor.require(Permission.ROLES)
    chain = get_owned(session, ApprovalChain, cmd.chain_id, actor.org_id, lock=True)
    if chain.active != cmd.active:
        before = _body(chain)
        chain.active = cmd.active
        record_audit(session, actor, "approval_chain.enable" if cmd.active else "approval_chain.disable",
                     "approval_chain", chain.id, before=before, after=_body(chain))
    return ChainSaved(chain.id, chain.active)
