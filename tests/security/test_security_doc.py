"""SECURITY.md's role table is the code's: a permission granted or taken away shows up there."""

from __future__ import annotations

from pathlib import Path

from models.actor import PERMISSION_LABELS, ROLE_PERMISSIONS, Permission
from models.org import ROLE_LABELS

ROOT = Path(__file__).resolve().parents[2]


def role_rows() -> list[str]:
    """The table rows as SECURITY.md must show them, from ROLE_PERMISSIONS."""
    rows = []
    for role, perms in ROLE_PERMISSIONS.items():
        labels = "全部权限" if perms == frozenset(Permission) else (
            "、".join(PERMISSION_LABELS[p] for p in Permission if p in perms) or "—")
        rows.append(f"| {ROLE_LABELS[role.value]} (`{role.value}`) | {labels} |")
    return rows


def test_security_md_lists_what_each_role_may_do():
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    roles = tuple(f"(`{role.value}`)" for role in ROLE_PERMISSIONS)
    documented = [line for line in text.splitlines()
                  if line.startswith("| ") and line.split("|")[1].strip().endswith(roles)]
    assert documented == role_rows()
