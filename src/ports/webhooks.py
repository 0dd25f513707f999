"""The webhook sender port: POST a signed body to a receiver's URL, say what it answered.

Contract (checked by ``tests/contract/test_webhook_sender.py`` on every adapter):

* ``post`` sends ``body`` byte for byte with ``headers`` and returns the receiver's HTTP
  status, whatever it is (a 500 is an answer, not an error). Redirects are not followed:
  a 3xx comes back as such. The response body is not returned (it is read up to a small
  cap at most, then dropped).
* The host is resolved and every address checked with ``domain.netpolicy`` before
  connecting, unless the sender allows private networks; the connection then goes to
  the checked address (no second lookup). A refused address raises ``WebhookBlocked``
  (permanent: retrying cannot help) and sends nothing.
* No answer within ``timeout`` seconds (resolution, connection and response together),
  a refused or reset connection, a name that does not resolve, a TLS failure: all raise
  ``WebhookUnreachable`` (transient). No library exception crosses the port.
"""

from __future__ import annotations

from typing import Protocol

from domain.errors import PermanentError, TransientError


class WebhookUnreachable(TransientError):
    """No HTTP answer: timeout, connection refused or reset, DNS failure, TLS error."""

    code = "webhook_unreachable"


class WebhookBlocked(PermanentError):
    """The URL leads to an address outgoing requests may not reach (SSRF policy)."""

    code = "webhook_blocked"


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
        """POST and return the HTTP status; see the module docstring for the rules."""
        ...

    async def close(self) -> None: ...


__all__ = ["WebhookBlocked", "WebhookSender", "WebhookUnreachable"]
