"""Edge nodes (站点节点): the registry at headquarters, the nonces it has seen, and a node's own state.

A node is a running instance at one or more of the org's sites that talks to headquarters with
requests signed by its key (models.operations.node_auth). Headquarters must keep the key itself:
HMAC verification needs it (a hash would not do). It is shown once, at registration or rotation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, UniqueConstraint
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
    #: Rows received from / sent to the node (replication comes later: 0 until then).
    rows_up: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_down: Mapped[int] = mapped_column(BigInteger, default=0)


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
