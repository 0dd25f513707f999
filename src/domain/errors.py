"""Errors the domain raises.

Every error carries a stable ``code`` (documented in the README's error table) and a
message written for the person who will read it in an API response or a failed job.
The HTTP layer maps the classes below to status codes in one place; nothing else in
the domain knows about HTTP.
"""

from __future__ import annotations


class SluiceError(Exception):
    """Base class of every error Sluice raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(SluiceError):
    """An agent, source or job that does not exist (or is not the caller's)."""

    code = "not_found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found", code=f"{kind}_not_found")
        self.kind = kind
        self.ident = ident


class IllegalTransition(SluiceError):
    """A job was asked to move between two states the lifecycle does not connect."""

    code = "illegal_transition"

    def __init__(self, current: str, target: str, *, reason: str | None = None) -> None:
        text = reason or f"a {current} job cannot become {target}"
        super().__init__(text)
        self.current = current
        self.target = target


class InvalidInput(SluiceError):
    """A request or a value object that breaks a rule of the domain."""

    code = "invalid_input"


class LimitExceeded(SluiceError):
    """An input over one of the configured limits (sizes, counts)."""

    code = "limit_exceeded"

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message, code="limit_exceeded")
        self.limit = limit


class Unauthenticated(SluiceError):
    """No API key, or one the server does not know (HTTP 401)."""

    code = "unauthorized"


class Conflict(SluiceError):
    """A write lost a race (optimistic concurrency) or contradicts existing state."""

    code = "conflict"


class StaleJob(Conflict):
    """The job changed since it was read: another process saved it first. Reload it."""

    code = "stale_job"

    def __init__(self, job_id: object) -> None:
        super().__init__(f"job {job_id} was changed by someone else; reload it")
        self.job_id = job_id


class StaleDelivery(Conflict):
    """The webhook delivery changed since it was read: another sender saved it first."""

    code = "stale_delivery"

    def __init__(self, delivery_id: object) -> None:
        super().__init__(f"webhook delivery {delivery_id} was changed by someone else; reload it")
        self.delivery_id = delivery_id


class ProcessingError(SluiceError):
    """A job step failed. ``transient`` decides whether the job is retried."""

    code = "processing_failed"
    transient = False


class PermanentError(ProcessingError):
    """Retrying cannot help: corrupt or unsupported input, a blocked URL, a bad key."""

    code = "permanent_failure"
    transient = False


class TransientError(ProcessingError):
    """Retrying later may help: a network error, a timeout, a 429 or a 5xx.

    ``retried`` is set by an adapter that already retried the call under its own policy
    (``Retry-After``, backoff, a time budget): trying again at once would only repeat
    that, so the attempt fails and the job is retried later.
    """

    code = "transient_failure"
    transient = True

    def __init__(self, message: str, *, code: str | None = None, retried: bool = False) -> None:
        super().__init__(message, code=code)
        self.retried = retried


class JobCancelled(SluiceError):
    """Raised inside a running job when it finds it was cancelled or lost its lease."""

    code = "job_cancelled"
