"""The job list for operators: each job with its last recorded run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from openability.jobs.registry import Job, JobRun
from openability.kernel.uow import Actor
from openability.kernel.web import container_of, require_operator


def jobs_router(jobs: Mapping[str, Job]) -> APIRouter:
    router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

    @router.get("")
    async def list_jobs(request: Request, actor: Actor = Depends(require_operator())) -> dict[str, Any]:
        """Registered jobs with their last recorded run."""
        container = container_of(request)
        out = []
        async with container.uow(actor) as uow:
            for job in jobs.values():
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

    return router
