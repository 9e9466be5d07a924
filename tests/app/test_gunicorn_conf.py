"""gunicorn.conf.py: the served worker's start-up objects are frozen out of the cyclic collector, and
a worker serves concurrent requests on threads."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path
from typing import Any

CONF = Path(__file__).parents[2] / "gunicorn.conf.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("gunicorn_conf", CONF)
    assert spec is not None and spec.loader is not None
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_a_worker_freezes_what_it_loaded_once_the_app_is_up():
    conf = _load()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        conf.post_worker_init(None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_gunicorn_reads_the_file_as_threaded_workers():
    from gunicorn.config import Config

    cfg = Config()
    for name, value in vars(_load()).items():
        if name in cfg.settings:
            cfg.set(name, value)
    assert cfg.threads > 1
    # gunicorn turns its default sync worker into gthread when threads > 1.
    assert cfg.worker_class_str == "gthread"
