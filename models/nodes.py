"""Edge nodes (站点节点): the registry at headquarters, the nonces it has seen, and a node's own state.

A node is a running instance at one or more of the org's sites that talks to headquarters with
requests signed by its key (models.operations.node_auth). Headquarters must keep the key itself:
HMAC verification needs it (a hash would not do). It is shown once, at registration or rotation.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import UTCDateTime


class Node(IdMixin, OrgMixin, CreatedMixin, Base):
    """One edge node of an organisation, with the sites it serves and its last contact."""

    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    #: [A-Z0-9]{1,8}: carried later in document numbers and moves, so short and plain.
    code: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64), default="")
    #: The HMAC key (32 random bytes, base64url). Never rendered, logged or audited.
    key: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_contact_ip: Mapped[str | None] = mapped_column(String(64))
    #: The node's software version, as its last hello said.
    last_version: Mapped[str | None] = mapped_column(String(32))
    #: Rows received from / sent to the node.
    rows_up: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_down: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The node's change-log sequence number headquarters has applied up to (gap-free: a batch is
    #: applied only if it starts right after it).
    up_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: What the node said, at its last exchange, it still had to send, and since when (its oldest
    #: unsent change): the month close and the lag figures read these.
    pending_up: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The node database's identity (node_state.epoch), adopted at its first exchange: a rebuilt
    #: database restarts its sequence below up_seq, so another epoch is refused until the key is rotated.
    epoch: Mapped[str | None] = mapped_column(String(32))


class NodeSite(IdMixin, Base):
    """A site a node serves."""

    __tablename__ = "node_sites"
    __table_args__ = (UniqueConstraint("node_id", "site_id"),)

    node_id: Mapped[int] = mapped_column(BigId, ForeignKey("nodes.id"), index=True)
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))


class NodeNonce(IdMixin, Base):
    """A nonce a node signed with, kept while its timestamp is still accepted: a replay is refused."""

    __tablename__ = "node_nonces"
    __table_args__ = (UniqueConstraint("node_id", "nonce"),)

    node_id: Mapped[int] = mapped_column(BigId, ForeignKey("nodes.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    #: After this the clock-skew check refuses the request anyway, so the row can go.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class NodeState(IdMixin, Base):
    """On a node: what its last exchange with headquarters said (a console banner shows it later)."""

    __tablename__ = "node_state"
    __table_args__ = (UniqueConstraint("node_code"),)

    node_code: Mapped[str] = mapped_column(String(8))
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Headquarters' clock at that exchange.
    hq_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(String(200), default="")
    #: The node's id block (its id at headquarters, models.node.id_range), from its first exchange.
    id_block: Mapped[int | None] = mapped_column(BigInteger)
    #: The last of its change-log sequence numbers headquarters has acknowledged.
    up_acked: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: Down cursors: master-data table → content hash; "moves" → the last time headquarters sent up to.
    down_cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    #: Random, made with this row: tells headquarters this is the same database as before.
    epoch: Mapped[str | None] = mapped_column(String(32))


class SyncLog(Base):
    """On a node: one change to a replicated row, in commit order — the node's up stream.

    Written by SQLite triggers (models.replication.install_capture) so that every path — the ORM,
    the posting writer, a raw statement — is caught in the transaction that made the change. The
    sequence number is gap-free and never reused: SQLite has one writer, a rolled-back insert gives its
    number back, and AUTOINCREMENT never hands out a number again once its row is deleted.
    """

    __tablename__ = "sync_log"
    #: AUTOINCREMENT: acknowledged entries are deleted, and a plain rowid would then start again at 1.
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tbl: Mapped[str] = mapped_column(String(32))
    row_key: Mapped[str] = mapped_column(String(40))


class SyncApplying(Base):
    """On a node: holds a row while a batch from headquarters is applied, so the capture triggers
    leave those rows out of the up stream (they came from headquarters)."""

    __tablename__ = "sync_applying"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ConflictStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class SyncConflict(IdMixin, OrgMixin, CreatedMixin, Base):
    """At headquarters: a node's change that clashed with what headquarters already had.

    History is never rewritten: the node's move stays applied; this row keeps both sides' facts and
    the rule that flagged it, and the to-do a person works it off with (the compensating document
    proposed in ``facts["proposal"]``).
    """

    __tablename__ = "sync_conflicts"
    __table_args__ = (UniqueConstraint("node_id", "rule", "row_key"),)

    node_id: Mapped[int] = mapped_column(BigId, ForeignKey("nodes.id"), index=True)
    #: oversold / lot_blocked / stale_price
    rule: Mapped[str] = mapped_column(String(32))
    #: The node's row that tripped it (a move id, a document id).
    row_key: Mapped[str] = mapped_column(String(40))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    todo_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("todos.id"))
    status: Mapped[ConflictStatus] = mapped_column(Enum(ConflictStatus, native_enum=False, length=16),
                                                   default=ConflictStatus.OPEN)
