"""Starts the scheduler with the platform (one per process; on PostgreSQL the advisory lock per job
and period makes extra schedulers harmless) and exposes the job list to operators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import select

from openability.jobs.registry import JobRun
from openability.jobs.scheduler import Scheduler, load_jobs
from openability.kernel.uow import Actor
from openability.kernel.web import container_of, require_operator

if TYPE_CHECKING:
    from openability.bootstrap import Container

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("")
async def list_jobs(request: Request, actor: Actor = Depends(require_operator())) -> dict[str, Any]:
    """Registered jobs with their last recorded run."""
    container = container_of(request)
    out = []
    async with container.uow(actor) as uow:
        for job in load_jobs().values():
            last = await uow.session.scalar(
                select(JobRun).where(JobRun.job == job.name).order_by(JobRun.started_at.desc()).limit(1)
            )
            out.append(
                {
                    "name": job.name,
                    "description": job.description,
                    "lastPeriod": last.period if last else None,
                    "lastStartedAt": last.started_at.isoformat() if last else None,
                    "lastFinishedAt": last.finished_at.isoformat() if last and last.finished_at else None,
                    "lastResult": last.result if last else None,
                }
            )
    return {"items": out, "total": len(out)}


def install(app: FastAPI, container: Container) -> None:
    app.include_router(router)
    if not container.settings.run_scheduler:
        return
    scheduler = Scheduler(container, interval=container.settings.scheduler_interval_seconds)
    container.parts["scheduler"] = scheduler
    app.state.on_startup.append(scheduler.start)
    app.state.on_shutdown.append(scheduler.stop)
