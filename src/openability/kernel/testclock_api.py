"""`/api/v1/test/clock`: read and move the test clock (kernel/testclock.py). The app includes these
routes only when `OPENABILITY_TEST_CLOCK` is on; off, they answer 404 like any unknown path."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime
from starlette.exceptions import HTTPException as StarletteHTTPException

from openability.kernel.schemas import ApiModel
from openability.kernel.testclock import TestClock
from openability.kernel.uow import Actor
from openability.kernel.web import container_of, require_operator, uow_for

router = APIRouter(prefix="/api/v1/test", tags=["test clock"])


class ClockSet(ApiModel):
    now: AwareDatetime


def _test_clock(request: Request) -> TestClock:
    container = container_of(request)
    clock = container.clock
    if not container.settings.test_clock or not isinstance(clock, TestClock):
        raise StarletteHTTPException(404, "Not Found")
    return clock


@router.get("/clock")
async def show_clock(request: Request, _: Actor = Depends(require_operator("admin"))) -> dict[str, Any]:
    """The platform's time: the system clock plus the test clock's offset (admin only)."""
    return _test_clock(request).state().as_dict()


@router.post("/clock")
async def set_clock(
    body: ClockSet, request: Request, actor: Actor = Depends(require_operator("admin"))
) -> dict[str, Any]:
    """Move the platform's clock forward to `now` (admin only, audited). An earlier time than the
    clock's now is refused (409 CLOCK_BACKWARDS). The jobs whose period the clock entered run at once
    in this process; `jobs` says what they did."""
    clock = _test_clock(request)
    moved = await clock.move(lambda: uow_for(request, actor), body.now)
    return {**clock.state().as_dict(), **moved.as_dict()}
