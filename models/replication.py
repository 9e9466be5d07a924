"""What travels between an edge node and headquarters, and how a row is written on the wire.

Up (node → headquarters): the rows a node originates, in the order a foreign key needs them
(``UP_TABLES``), named by the node's change log (models.nodes.SyncLog), which SQLite triggers fill in
the transaction that made each change (:func:`install_capture`). Down (headquarters → node): the
organisation's master data (``DOWN_TABLES``, whole tables, sent again only when their content hash
changed) and the moves other nodes and headquarters made at the node's sites, with their documents
and lots. Ids are global (models.id_blocks), so a row is the same row everywhere and applying it
twice finds it.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Date, DateTime, Enum, LargeBinary, Numeric, Table, Uuid, text
from sqlalchemy.types import TypeDecorator

from models.base import Base

#: Up, parents first: lots before documents' lines, documents before vouchers and moves.
UP_TABLES: tuple[str, ...] = ("lots", "documents", "document_lines", "approval_requests", "vouchers",
                              "voucher_lines", "stock_moves", "farmer_settlements", "freezes",
                              "outbox_events", "audit_log")
#: Down, parents first. Whole tables of one organisation: master data is small and changes rarely.
DOWN_TABLES: tuple[str, ...] = ("orgs", "accounts", "units", "parties", "sites", "items", "grades", "item_units",
                                "members", "member_identities", "member_roles", "approval_chains", "rules",
                                "rule_versions", "mapping_rules", "site_policies", "accounting_periods")
#: Moves recorded this long before a node's down cursor are counted again, and re-sent when the node
#: holds fewer of them (a PostgreSQL transaction may commit after a later one).
DOWN_OVERLAP = timedelta(minutes=5)
#: The rows that come down with the moves at a node's sites.
DOWN_MOVE_TABLES: tuple[str, ...] = ("lots", "documents", "document_lines", "stock_moves")


def table(name: str) -> Table:
    found = Base.metadata.tables[name]
    return found


def key_column(name: str) -> str:
    """The single primary-key column of a replicated table."""
    return next(iter(table(name).primary_key.columns)).name


def _impl(type_: Any) -> Any:
    return type_.impl if isinstance(type_, TypeDecorator) else type_


def encode_value(value: Any) -> Any:
    """A column value as JSON: decimals and times as text, enums by name, UUIDs in hex."""
    if isinstance(value, enum.Enum):  # first: a StrEnum is a str too
        return value.name
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value  # JSON columns: already lists, dicts, numbers


def _decoder(type_: Any) -> Callable[[Any], Any]:
    impl = _impl(type_)
    if isinstance(impl, Enum) and impl.enum_class is not None:
        members = impl.enum_class
        return lambda v: members[v]
    if isinstance(impl, DateTime):
        return datetime.fromisoformat
    if isinstance(impl, Date):
        return date.fromisoformat
    if isinstance(impl, Numeric) and impl.asdecimal:
        return Decimal
    if isinstance(impl, Uuid):
        return uuid.UUID
    if isinstance(impl, LargeBinary):
        return base64.b64decode
    return lambda v: v


_decoders: dict[str, dict[str, Callable[[Any], Any]]] = {}


def encode_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {k: encode_value(v) for k, v in row.items()}


def decode_row(name: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A wire row back as column values; columns the table does not have are refused (KeyError)."""
    decoders = _decoders.get(name)
    if decoders is None:
        decoders = _decoders[name] = {c.name: _decoder(c.type) for c in table(name).columns}
    return {k: (decoders[k](v) if v is not None else None) for k, v in row.items()}


def row_key(value: Any) -> str:
    """A primary key as the change log writes it (integers as digits, UUIDs as 32 hex digits)."""
    return value.hex if isinstance(value, uuid.UUID) else str(value)


def content_hash(rows: list[dict[str, Any]]) -> str:
    """A table's content as headquarters has it, to tell whether a node's copy is current."""
    return hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def install_capture(conn: Connection) -> None:
    """Create (once) the SQLite triggers that log a node's changes to the replicated tables.

    A row changed while a batch from headquarters is applied (a row in sync_applying) is not logged.
    UUID keys are logged as SQLite stores them (32 hex digits), matching :func:`row_key`.
    """
    for name in UP_TABLES:
        key = key_column(name)
        for op in ("INSERT", "UPDATE"):
            conn.execute(text(
                f"CREATE TRIGGER IF NOT EXISTS sync_capture_{name}_{op.lower()} AFTER {op} ON {name} "
                "WHEN NOT EXISTS (SELECT 1 FROM sync_applying) "
                f"BEGIN INSERT INTO sync_log (tbl, row_key) VALUES ('{name}', NEW.{key}); END"))
