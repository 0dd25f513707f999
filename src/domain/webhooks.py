"""Webhooks: an agent's endpoint that hears when its jobs end, and each delivery to it.

A delivery is written to the store in the same transaction as the job's terminal
transition (an outbox), so no outcome is lost and none is announced that did not
happen. Workers then send it, signed, retrying with backoff until the receiver answers
2xx or the attempts run out. The delivery's lifecycle lives here::

    pending ──claim──▶ sending ──2xx──▶ delivered
       ▲                  │  └──error, no attempts left / refused──▶ failed
       └──error, retry────┘
    (a sender that dies mid-send leaves ``sending`` with an expired claim: due again)
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from domain.errors import IllegalTransition, InvalidInput
from domain.jobs import JobStatus
from domain.netpolicy import blocked_host
from domain.retry import RetryPolicy

MAX_URL_LENGTH = 2048
MAX_ERROR_LENGTH = 500
SIGNATURE_HEADER = "X-Sluice-Signature"
TIMESTAMP_HEADER = "X-Sluice-Timestamp"
DELIVERY_HEADER = "X-Sluice-Delivery"
EVENT_HEADER = "X-Sluice-Event"


class WebhookEvent(str, enum.Enum):
    """The job outcomes an agent can subscribe to; sent as ``job.<value>``."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def wire_name(self) -> str:
        return f"job.{self.value}"

    @classmethod
    def of(cls, status: JobStatus) -> WebhookEvent | None:
        """The event a job entering ``status`` raises (None: not an outcome)."""
        try:
            return cls(JobStatus(status).value)
        except ValueError:
            return None

    def __str__(self) -> str:
        return self.value


ALL_EVENTS = tuple(WebhookEvent)


def new_secret() -> str:
    """A fresh signing secret: 256 random bits."""
    return "whsec_" + secrets.token_urlsafe(32)


def validate_url(url: str, *, allow_private: bool = False) -> str:
    """The URL, checked: http(s), a host, no credentials, a size limit, and (unless
    ``allow_private``) no host that is obviously internal. Names that *resolve* to an
    internal address are caught at send time, on the resolved address."""
    url = url.strip()
    if not url:
        raise InvalidInput("webhook url must not be empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"webhook url is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidInput("webhook url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"webhook url is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput("webhook url must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("webhook url must not contain credentials; receivers authenticate by the signature")
    if parts.fragment:
        raise InvalidInput("webhook url must not contain a #fragment")
    host = parts.hostname or ""
    if not host:
        raise InvalidInput("webhook url has no host")
    if port == 0:
        raise InvalidInput("webhook url has port 0")
    try:
        host.encode("idna")
    except UnicodeError:
        raise InvalidInput(f"webhook url host {host!r} is not a valid name") from None
    reason = None if allow_private else blocked_host(host)
    if reason is not None:
        raise InvalidInput(
            f"webhook url host {host} is {reason}; internal addresses are refused "
            "(set WEBHOOK_ALLOW_PRIVATE_NETWORKS=1 to allow them)"
        )
    return url


def _events(events: list[WebhookEvent] | tuple[WebhookEvent, ...] | None) -> tuple[WebhookEvent, ...]:
    if events is None:
        return ALL_EVENTS
    chosen = {WebhookEvent(e) for e in events}
    if not chosen:
        raise InvalidInput("events must name at least one of: " + ", ".join(e.value for e in ALL_EVENTS))
    return tuple(e for e in ALL_EVENTS if e in chosen)


@dataclass(slots=True)
class Webhook:
    """An agent's webhook: where to POST, which outcomes, and the secret that signs."""

    agent_id: uuid.UUID
    url: str
    events: tuple[WebhookEvent, ...]
    secret: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def new(
        cls,
        *,
        agent_id: uuid.UUID,
        url: str,
        now: datetime,
        events: list[WebhookEvent] | tuple[WebhookEvent, ...] | None = None,
        allow_private: bool = False,
        secret: str | None = None,
        created_at: datetime | None = None,
    ) -> Webhook:
        return cls(
            agent_id=agent_id,
            url=validate_url(url, allow_private=allow_private),
            events=_events(events),
            secret=secret or new_secret(),
            created_at=created_at or now,
            updated_at=now,
        )

    def wants(self, event: WebhookEvent) -> bool:
        return event in self.events


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


OPEN_DELIVERY_STATUSES = frozenset({DeliveryStatus.PENDING, DeliveryStatus.SENDING})
FINISHED_DELIVERY_STATUSES = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED})


@dataclass(slots=True)
class WebhookDelivery:
    """One event to one agent's webhook, until it is delivered or given up.

    ``payload`` is the job as it was at the transition (the real-time event's fields).
    ``version`` makes every save a compare-and-set, as for jobs: two senders can never
    both claim, or both record, one delivery.
    """

    id: uuid.UUID
    agent_id: uuid.UUID
    job_id: uuid.UUID
    event: WebhookEvent
    payload: dict[str, Any]
    status: DeliveryStatus
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    last_error: str | None = None
    last_status_code: int | None = None
    locked_by: str | None = None
    finished_at: datetime | None = None
    version: int = 0

    @classmethod
    def new(
        cls, *, agent_id: uuid.UUID, job_id: uuid.UUID, event: WebhookEvent, payload: dict[str, Any], now: datetime
    ) -> WebhookDelivery:
        return cls(
            id=uuid.uuid4(),
            agent_id=agent_id,
            job_id=job_id,
            event=event,
            payload=dict(payload),
            status=DeliveryStatus.PENDING,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_DELIVERY_STATUSES

    def is_due(self, now: datetime) -> bool:
        """Pending and due, or claimed by a sender whose claim ran out."""
        return self.status in OPEN_DELIVERY_STATUSES and self.next_attempt_at <= now

    def claim(self, now: datetime, *, worker_id: str, lease: timedelta, max_attempts: int) -> bool:
        """Take the delivery for one attempt (counted now, so a crash costs one too).
        Returns False, and gives up instead, when no attempt is left."""
        if not self.is_due(now):
            raise IllegalTransition(self.status.value, "sending", reason="the delivery is not due")
        if self.attempts >= max_attempts:
            if self.status is DeliveryStatus.SENDING:
                why = f"worker {self.locked_by or '?'} stopped during attempt {self.attempts}"
            else:
                why = self.last_error or "no attempts left"
            self.give_up(now, f"{why} (gave up after {self.attempts} attempts)")
            return False
        self.status = DeliveryStatus.SENDING
        self.attempts += 1
        self.locked_by = worker_id
        self.next_attempt_at = now + lease
        self.updated_at = now
        return True

    def succeed(self, now: datetime, status_code: int) -> None:
        self._check_sending("delivered")
        self.status = DeliveryStatus.DELIVERED
        self.last_status_code = status_code
        self.last_error = None
        self._finish(now)

    def attempt_failed(
        self,
        now: datetime,
        error: str,
        *,
        status_code: int | None = None,
        retry: bool = True,
        policy: RetryPolicy,
        rnd: float,
        max_attempts: int,
    ) -> bool:
        """Record a failed attempt; schedule the next one with backoff when allowed and
        attempts are left (returns True), else fail for good."""
        self._check_sending("pending")
        self.last_status_code = status_code
        if retry and self.attempts < max_attempts:
            self.status = DeliveryStatus.PENDING
            self.last_error = error[:MAX_ERROR_LENGTH]
            self.locked_by = None
            self.next_attempt_at = now + timedelta(seconds=policy.delay(self.attempts, rnd))
            self.updated_at = now
            return True
        self.give_up(now, f"{error} (gave up after {self.attempts} attempts)" if retry else error)
        return False

    def give_up(self, now: datetime, error: str) -> None:
        if self.is_finished:
            raise IllegalTransition(self.status.value, "failed", reason=f"the delivery is already {self.status}")
        self.status = DeliveryStatus.FAILED
        self.last_error = error[:MAX_ERROR_LENGTH]
        self._finish(now)

    def _check_sending(self, target: str) -> None:
        if self.status is not DeliveryStatus.SENDING:
            raise IllegalTransition(self.status.value, target, reason=f"a {self.status} delivery was not being sent")

    def _finish(self, now: datetime) -> None:
        self.locked_by = None
        self.finished_at = now
        self.next_attempt_at = now
        self.updated_at = now


# -- the request -------------------------------------------------------------------------


def body_of(delivery: WebhookDelivery, delivered_at: datetime) -> bytes:
    """``{"event": "job.completed", "job": {...}, "deliveredAt": "...Z"}`` as UTF-8 JSON."""
    document = {
        "event": delivery.event.wire_name,
        "job": delivery.payload,
        "deliveredAt": delivered_at.isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), signature)


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One signed POST, ready for a sender."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def request_for(delivery: WebhookDelivery, webhook: Webhook, delivered_at: datetime) -> WebhookRequest:
    body = body_of(delivery, delivered_at)
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: delivery.event.wire_name,
        DELIVERY_HEADER: str(delivery.id),
        TIMESTAMP_HEADER: str(int(delivered_at.timestamp())),
        SIGNATURE_HEADER: sign(webhook.secret, body),
        "X-Sluice-Attempt": str(delivery.attempts),
    }
    return WebhookRequest(url=webhook.url, body=body, headers=headers)


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """How deliveries are sent; each value is a documented setting (``WEBHOOK_*``)."""

    max_attempts: int = 8
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_seconds=30.0, cap_seconds=3600.0))
    timeout_seconds: float = 10.0
    allow_private_networks: bool = False
    # Deliveries one worker claims and sends at once.
    batch: int = 16

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInput("webhook max attempts must be at least 1")
        if self.timeout_seconds <= 0:
            raise InvalidInput("webhook timeout must be positive")

    @property
    def claim(self) -> timedelta:
        """How long a sender holds a claimed delivery: well past the send's own timeout,
        so a claim only runs out when its sender died (then another sends it again)."""
        return timedelta(seconds=2 * self.timeout_seconds + 30)
