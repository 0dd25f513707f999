"""Sending webhook deliveries: claim the due ones, POST them signed, record what happened.

Runs in every worker, about once a second. A claim is a compare-and-set in the store
(rows locked and skipped by concurrent claimers), so two workers never send one
delivery at once. The attempt is counted at the claim, and the claim runs out well after
the send's own timeout: a worker that dies mid-send leaves a delivery that another
worker sends again later. Receivers may therefore see a delivery twice (rarely) and
de-duplicate on its id, the ``X-Sluice-Delivery`` header.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from domain.errors import IllegalTransition, PermanentError, SluiceError, StaleDelivery, TransientError
from domain.services.deps import Ports, ServiceConfig
from domain.webhooks import DeliveryStatus, Webhook, WebhookDelivery, request_for

log = logging.getLogger("sluice.webhooks")

# Batches one call sends at most, so a backlog cannot keep a worker's loop to itself.
MAX_ROUNDS = 8


@dataclass(frozen=True, slots=True)
class _Claimed:
    delivery: WebhookDelivery
    webhook: Webhook


class WebhookDeliverer:
    def __init__(self, ports: Ports, config: ServiceConfig) -> None:
        if ports.webhook_sender is None:
            raise SluiceError("no webhook sender configured")
        self._ports = ports
        self._sender = ports.webhook_sender
        self._options = config.webhooks
        self._worker_id = config.worker_id

    async def deliver_due(self) -> int:
        """Send every delivery that is due now, a batch at a time. Returns how many."""
        sent = 0
        for _ in range(MAX_ROUNDS):
            claimed = await self._claim()
            await asyncio.gather(*(self._send(c) for c in claimed))
            sent += len(claimed)
            if len(claimed) < self._options.batch:
                break
        return sent

    async def _claim(self) -> list[_Claimed]:
        now = self._ports.clock.now()
        # A cheap read first: on SQLite a writing unit of work takes the database's one
        # write lock, which an idle poll every second should not.
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            if not await uow.deliveries.due(now, limit=1):
                return []
        claimed: list[_Claimed] = []
        async with self._ports.store.unit_of_work() as uow:
            for delivery in await uow.deliveries.due(now, limit=self._options.batch, lock=True):
                webhook = await uow.webhooks.get(delivery.agent_id)
                if webhook is None:
                    delivery.give_up(now, "the agent's webhook was removed before this was delivered")
                    sending = False
                else:
                    sending = delivery.claim(
                        now,
                        worker_id=self._worker_id,
                        lease=self._options.claim,
                        max_attempts=self._options.max_attempts,
                    )
                try:
                    await uow.deliveries.save(delivery)
                except StaleDelivery:
                    continue
                if sending and webhook is not None:
                    claimed.append(_Claimed(delivery, webhook))
                else:
                    log.warning("webhook delivery %s failed: %s", delivery.id, delivery.last_error)
            await uow.commit()
        return claimed

    async def _send(self, claimed: _Claimed) -> None:
        delivery, options = claimed.delivery, self._options
        request = request_for(delivery, claimed.webhook, self._ports.clock.now())
        status: int | None = None
        error: str | None = None
        retry = True
        try:
            # The sender keeps to the timeout; the margin only guards against one that does not.
            async with asyncio.timeout(options.timeout_seconds + 5):
                status = await self._sender.post(
                    request.url, request.body, request.headers, timeout=options.timeout_seconds
                )
        except PermanentError as exc:
            error, retry = exc.message, False
        except TransientError as exc:
            error = exc.message
        except TimeoutError:
            error = f"no answer within {options.timeout_seconds:g}s"
        except Exception as exc:
            log.exception("webhook delivery %s: unexpected error", delivery.id)
            error = f"internal error ({type(exc).__name__}: {exc})"
        if status is not None and not 200 <= status < 300:
            error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        now = self._ports.clock.now()
        rnd = self._ports.random.random()

        def record(d: WebhookDelivery) -> None:
            if error is None and status is not None:
                d.succeed(now, status)
            else:
                d.attempt_failed(
                    now,
                    error or "no answer",
                    status_code=status,
                    retry=retry,
                    policy=options.retry,
                    rnd=rnd,
                    max_attempts=options.max_attempts,
                )

        await self._record(delivery, record)

    async def _record(self, delivery: WebhookDelivery, change: Callable[[WebhookDelivery], None]) -> None:
        try:
            change(delivery)
            async with self._ports.store.unit_of_work() as uow:
                await uow.deliveries.save(delivery)
                await uow.commit()
        except (StaleDelivery, IllegalTransition):
            # Our claim ran out and another worker took the delivery over: its result counts.
            log.warning("webhook delivery %s was taken over by another worker", delivery.id)
            return
        except Exception:
            # Database down? The claim runs out and the delivery is sent again.
            log.warning("could not record webhook delivery %s; it will be sent again", delivery.id, exc_info=True)
            return
        if delivery.status is DeliveryStatus.DELIVERED:
            log.info("webhook delivery %s (%s) delivered", delivery.id, delivery.event.wire_name)
        elif delivery.is_finished:
            log.warning("webhook delivery %s failed: %s", delivery.id, delivery.last_error)
        else:
            log.info(
                "webhook delivery %s attempt %d failed (%s); next at %s",
                delivery.id,
                delivery.attempts,
                delivery.last_error,
                delivery.next_attempt_at,
            )
