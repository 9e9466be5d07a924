"""Numbers on PostgreSQL come from blocks a process takes ahead (models.number_blocks): no posting
holds a counter row, yet numbers stay unique, quiet series stay consecutive across processes, and a
busy one takes bigger blocks."""

from __future__ import annotations

import threading

import pytest

from models import number_blocks


@pytest.fixture
def pg_url(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite bumps its counters inside the transaction (one writer)")
    url = engine.url.render_as_string(hide_password=False)
    number_blocks.forget(url)
    yield url
    number_blocks.forget(url)


def test_sixteen_threads_get_unique_numbers_and_none_is_lost(pg_url, demo):
    got: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            n = number_blocks.take(pg_url, demo.org_id, "T-THREADS", "20261205")
            with lock:
                got.append(n)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 801))  # unique, and one process leaves no gap


def test_a_quiet_series_stays_consecutive_across_processes(pg_url, demo, monkeypatch):
    """A new process (its blocks forgotten) continues where the last left off while the series is
    quiet: blocks of one."""
    clock = iter(range(0, 1000, 10))  # ten seconds between postings: quiet
    monkeypatch.setattr(number_blocks.time, "monotonic", lambda: float(next(clock)))
    first = number_blocks.take(pg_url, demo.org_id, "T-QUIET", "20261205")
    number_blocks.forget(pg_url)  # "another worker process"
    second = number_blocks.take(pg_url, demo.org_id, "T-QUIET", "20261205")
    assert (first, second) == (1, 2)


def test_a_busy_series_takes_doubling_blocks_up_to_the_cap(pg_url, demo, monkeypatch):
    monkeypatch.setattr(number_blocks.time, "monotonic", lambda: 100.0)  # every refill "just now"
    taken = [number_blocks.take(pg_url, demo.org_id, "T-BUSY", "20261205") for _ in range(200)]
    assert taken == list(range(1, 201))
    number_blocks.forget(pg_url)  # another process: starts after everything the first one reserved
    other = number_blocks.take(pg_url, demo.org_id, "T-BUSY", "20261205")
    reserved = 1 + 2 + 4 + 8 + 16 + 32 * 6  # blocks of 1, 2, 4 … 32: 223 numbers for 200 postings
    assert other == reserved + 1


def test_a_number_given_back_after_the_epoch_moved_on_is_not_handed_out_again(pg_url, demo):
    """A voucher number taken before a close (config version v1) and given back by a rollback that
    ends only after another posting took numbers under the close's version (v2) is a gap: handing it
    out under v2 could meet a renumbered voucher after a 反结账."""
    key = (pg_url, demo.org_id, "voucher", "202612")
    before = number_blocks.take(pg_url, demo.org_id, "voucher", "202612", "v1")
    after = number_blocks.take(pg_url, demo.org_id, "voucher", "202612", "v2")
    number_blocks.give_back([(key, "v1", before)])
    assert number_blocks.take(pg_url, demo.org_id, "voucher", "202612", "v2") not in (before, after)
    number_blocks.give_back([(key, "v2", after)])  # one of this epoch's is handed out again
    assert number_blocks.take(pg_url, demo.org_id, "voucher", "202612", "v2") == after
