"""Which node this process is: headquarters ("server") or an edge node (LIUZHUAN_NODE=N1).

An edge node issues its own document and voucher numbers, and they must never collide with
headquarters' or another node's once the ledgers merge (issue 14): so every human number a node
issues carries its code (RK-SX-N1-20261205-0007, 记-N1-202612-00012) and comes from a counter of
its own (series "RK-SX-N1", "voucher-N1"). Headquarters' numbers keep their shape.

The code is set once per process by its composition root (app.factory for the web, the Celery
worker's app), from app.settings — the model never imports the app. Unset, a process is "server".
"""

from __future__ import annotations

import re

#: The node code of headquarters (and of every process not configured as an edge node).
SERVER = "server"

#: An edge node's code: short, upper-case, so numbers stay within documents.number (48 characters).
NODE_CODE = re.compile(r"[A-Z0-9]{1,8}")

_code = SERVER


def valid_code(code: str) -> bool:
    """Tell whether ``code`` may name a node: "server" or 1–8 upper-case letters and digits."""
    return code == SERVER or NODE_CODE.fullmatch(code) is not None


def configure(code: str) -> None:
    """Set this process's node code (app.factory and the worker, from LIUZHUAN_NODE)."""
    global _code
    if not valid_code(code):
        raise ValueError(f"invalid node code {code!r}: 'server' or [A-Z0-9]{{1,8}}")
    _code = code


def current() -> str:
    """This process's node code ("server" at headquarters)."""
    return _code


def is_edge() -> bool:
    """Tell whether this process runs as an edge node."""
    return _code != SERVER


def tagged(series: str) -> str:
    """A number's series as this node issues it: "RK-SX" at headquarters, "RK-SX-N1" at node N1."""
    return series if _code == SERVER else f"{series}-{_code}"


def voucher_series() -> str:
    """The number_sequences series of this node's voucher numbers ("voucher", "voucher-N1")."""
    return tagged("voucher")


def origin(given: str) -> str:
    """The origin_node a move is written with: the default "server" means "made here", so it
    becomes this node's code; another origin (an offline phone's) is kept."""
    return _code if given == SERVER else given
