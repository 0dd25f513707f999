"""The webhook outbox: a job's outcome is recorded for delivery in the job's own transaction.

Called by every place that saves a job transition (``update_job``: cancel, reclaim;
the runner's saves: complete, fail), inside the unit of work, after the job's save and
before the commit. The delivery row and the terminal state are committed together or
not at all: a crash can neither lose the announcement of an outcome nor announce one
that was rolled back. Workers send the rows later (``WebhookDeliverer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.events import JobEvent
from domain.jobs import Job, JobStatus
from domain.webhooks import WebhookDelivery, WebhookEvent

if TYPE_CHECKING:
    from ports.store import UnitOfWork


async def record_outcome(uow: UnitOfWork, job: Job, previous: JobStatus) -> WebhookDelivery | None:
    """Add a delivery when ``job`` has just become completed, failed or cancelled (it was
    ``previous`` before) and its agent's webhook subscribes to that event."""
    if job.status is previous or not job.is_terminal:
        return None
    event = WebhookEvent.of(job.status)
    if event is None:
        return None
    webhook = await uow.webhooks.get(job.agent_id)
    if webhook is None or not webhook.wants(event):
        return None
    delivery = WebhookDelivery.new(
        agent_id=job.agent_id, job_id=job.id, event=event, payload=JobEvent.of(job).payload(), now=job.updated_at
    )
    await uow.deliveries.add(delivery)
    return delivery
