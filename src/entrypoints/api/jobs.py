"""Jobs: status, lists, retry, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from domain.access import Principal
from domain.jobs import JobStatus
from domain.pagination import PageRequest
from domain.services.jobs import JobService
from entrypoints.api.schemas import JobOut, Ok, OkPage, page_of

StatusParam = QueryParameter(description="pending, processing, completed, failed or cancelled")


class JobController(Controller):
    """Jobs by id: scoped to the caller's agent here too, besides the app's access guard."""

    path = "/api/jobs"
    tags = ["jobs"]

    @get("/{job_id:uuid}", summary="A job's status, progress, attempts and result")
    async def get_job(
        self, job_id: FromPath[uuid.UUID], jobs: NamedDependency[JobService], principal: NamedDependency[Principal]
    ) -> Ok[JobOut]:
        return Ok(data=JobOut.of(await jobs.get_job(job_id, agent_id=principal.scope())))

    @post("/{job_id:uuid}/retry", status_code=200, summary="Re-run a failed or cancelled job")
    async def retry_job(
        self, job_id: FromPath[uuid.UUID], jobs: NamedDependency[JobService], principal: NamedDependency[Principal]
    ) -> Ok[JobOut]:
        return Ok(data=JobOut.of(await jobs.retry_job(job_id, agent_id=principal.scope())))

    @delete("/{job_id:uuid}", status_code=200, summary="Cancel a pending or processing job")
    async def cancel_job(
        self, job_id: FromPath[uuid.UUID], jobs: NamedDependency[JobService], principal: NamedDependency[Principal]
    ) -> Ok[JobOut]:
        return Ok(data=JobOut.of(await jobs.cancel_job(job_id, agent_id=principal.scope())))


class AgentJobController(Controller):
    path = "/api/agents/{agent_id:uuid}"
    tags = ["jobs"]

    @get("/jobs", summary="An agent's jobs, newest first")
    async def list_agent_jobs(
        self,
        agent_id: FromPath[uuid.UUID],
        jobs: NamedDependency[JobService],
        status: Annotated[JobStatus | None, StatusParam] = None,
        limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> OkPage[JobOut]:
        request = PageRequest.parse(limit, cursor)
        return page_of(await jobs.list_jobs(agent_id, request, status=status), request.limit, JobOut.of)

    @get("/sources/{source_id:uuid}/jobs", summary="A source's jobs, newest first")
    async def list_source_jobs(
        self,
        agent_id: FromPath[uuid.UUID],
        source_id: FromPath[uuid.UUID],
        jobs: NamedDependency[JobService],
        status: Annotated[JobStatus | None, StatusParam] = None,
        limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> OkPage[JobOut]:
        request = PageRequest.parse(limit, cursor)
        page = await jobs.list_jobs(agent_id, request, source_id=source_id, status=status)
        return page_of(page, request.limit, JobOut.of)
