"""The server start path tunes the garbage collector (app.py `tune_gc`, settings gc_freeze and
gc_threshold; docs/benchmarks.md "GC tuning"): applied when the app's lifespan starts, as uvicorn runs
it in every worker process, and put back at shutdown."""

from __future__ import annotations

import gc

from openability.app import create_app
from openability.bootstrap import Container
from openability.config import Settings


def test_the_default_raises_the_first_threshold_above_the_interpreters() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.gc_freeze is True
    assert s.gc_threshold[0] > 700  # CPython's default: a young collection every few requests


async def test_a_started_server_freezes_start_up_and_sets_the_thresholds(container: Container) -> None:
    before = gc.get_threshold()
    container.settings.gc_threshold = (12_345, 17, 42)
    app = create_app(container, manage_container=False)
    assert gc.get_freeze_count() == 0
    async with app.lifespan():
        assert gc.get_threshold() == (12_345, 17, 42)
        assert gc.get_freeze_count() > 10_000  # what start-up built (modules, routes, mappers)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_gc_freeze_off_leaves_everything_in_the_collectors_sight(container: Container) -> None:
    container.settings.gc_freeze = False
    app = create_app(container, manage_container=False)
    async with app.lifespan():
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == container.settings.gc_threshold
