"""The served worker's start-up objects are frozen out of the cyclic collector (gunicorn.conf.py)."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

CONF = Path(__file__).parents[2] / "gunicorn.conf.py"


def test_a_worker_freezes_what_it_loaded_once_the_app_is_up():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", CONF)
    assert spec is not None and spec.loader is not None
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        conf.post_worker_init(None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
