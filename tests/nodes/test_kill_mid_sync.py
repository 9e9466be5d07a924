"""A node killed -9 mid-sync, over and over, loses and doubles nothing (issue 14).

300 receipts at node N1, then syncs in small batches that are cut short: SIGKILL from outside after two
rounds, then the driver killing itself right after headquarters committed a batch (the answer never
applied), inside the open transaction applying an answer, and before a request left. After each kill
the driver restarts on the same database. Finally a full sync: headquarters has exactly the 300
receipts, once each, and both sides' balances equal Σ moves.
"""

from __future__ import annotations

import re

import pytest

from tests.nodes.conftest import World

RECEIPTS = 300
BATCH = 97  # entries per round: a receipt's rows straddle batches, and there are many rounds


def _kill_after_rounds(world: World, code: str, rounds: int) -> None:
    driver = world.drivers[code]
    driver.send({"cmd": "sync", "batch": BATCH})
    seen = driver.answer(progress=lambda line: line["progress"] >= rounds)
    assert seen is not None and seen.get("progress") == rounds, f"the sync ended before round {rounds}: {seen}"
    driver.kill()
    driver.start()


def _self_kill(world: World, code: str, round_: int, phase: str) -> None:
    driver = world.drivers[code]
    driver.send({"cmd": "sync", "batch": BATCH, "kill_at": {"round": round_, "phase": phase}})
    assert driver.answer() is None, f"the sync ended before round {round_} {phase}"
    assert driver.died(), "the driver should have been killed by SIGKILL"
    driver.start()


def test_receipts_survive_kills_mid_sync(world: World) -> None:
    got = world.drivers["N1"].call({"cmd": "receive", "site": "SX", "item": "茶青", "qty": "1.5",
                                    "farmer": "王阿姨", "grade": "特级", "n": RECEIPTS})
    assert got["ok"], got
    assert all(re.fullmatch(r"RK-SX-N1-\d{8}-\d+", n) for n in got["numbers"]), got["numbers"][:3]

    _kill_after_rounds(world, "N1", 2)
    _self_kill(world, "N1", 2, "after_post")  # headquarters applied this batch; the node never learnt
    _self_kill(world, "N1", 2, "mid_apply")  # the answer's transaction dies uncommitted
    _self_kill(world, "N1", 1, "before_post")
    pending = world.drivers["N1"].call({"cmd": "dump"})["sync_log"]
    assert pending > 0, "the kills came too late: everything was sent already"

    world.sync_until_quiet()
    dumps = world.check()
    hq_receipts = [n for n in dumps["HQ"]["documents"] if n.startswith("RK-SX-N1-")]
    assert len(hq_receipts) == len(set(hq_receipts)) == RECEIPTS
    assert set(hq_receipts) == set(got["numbers"])
    node_moves = [m for m in dumps["HQ"]["moves"] if m[5] == "N1"]
    assert len(node_moves) == RECEIPTS


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_changes_after_a_full_sync_still_go_up(world: World) -> None:
    """A sync that acknowledges everything empties the node's change log; the next change must not get a
    sequence number headquarters has already passed (SQLite reuses the rowids of an emptied table)."""
    node = world.drivers["N1"]
    numbers = []
    for _ in range(3):
        got = node.call({"cmd": "receive", "site": "SX", "item": "茶青", "qty": "2", "farmer": "李大伯",
                         "grade": "一级"})
        assert got["ok"], got
        numbers += got["numbers"]
        synced = node.call({"cmd": "sync"})
        assert synced["ok"] and synced["up"] > 0, synced
    dumps = world.check()
    assert set(numbers) <= set(dumps["HQ"]["documents"])
