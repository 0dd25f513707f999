"""A webhook sender whose receivers live in memory: for tests and demos.

It keeps the sender contract (``tests/contract/test_webhook_sender.py`` runs on it and
on httpx): hosts resolve through a table (a literal address is itself), the same SSRF
address policy applies, answers are scripted per URL, and a slow answer or an unknown
host raises ``WebhookUnreachable``. What was sent is kept in ``sent``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from domain.netpolicy import blocked_reason, parse_address
from ports.webhooks import WebhookBlocked, WebhookUnreachable


@dataclass(frozen=True, slots=True)
class Slow:
    """An answer that comes after ``seconds`` (a timeout when that is too late)."""

    seconds: float
    status: int = 200


Answer = int | Slow | BaseException


@dataclass(frozen=True, slots=True)
class SentWebhook:
    url: str
    address: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class MemoryWebhookSender:
    def __init__(self, *, hosts: dict[str, str] | None = None, allow_private_networks: bool = False) -> None:
        self.hosts = dict(hosts or {})
        self.allow_private_networks = allow_private_networks
        self.sent: list[SentWebhook] = []
        self.attempts: list[str] = []
        self._answers: dict[str, deque[Answer]] = defaultdict(deque)

    def answer(self, url: str, *answers: Answer) -> None:
        """Queue the next answers of ``url``; once they are used up it answers 200."""
        self._answers[url].extend(answers)

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
        self.attempts.append(url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        address = host if parse_address(host) is not None else self.hosts.get(host)
        if address is None:
            raise WebhookUnreachable(f"cannot resolve {host}: unknown host")
        reason = None if self.allow_private_networks else blocked_reason(address)
        if reason is not None:
            raise WebhookBlocked(f"the webhook host {host} resolves to {address}, {reason}")
        answers = self._answers[url]
        answer: Answer = answers.popleft() if answers else 200
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, Slow):
            if answer.seconds >= timeout:
                await asyncio.sleep(timeout)
                raise WebhookUnreachable(f"no answer within {timeout:g}s")
            await asyncio.sleep(answer.seconds)
            answer = answer.status
        self.sent.append(SentWebhook(url=url, address=address, body=bytes(body), headers=dict(headers)))
        return answer

    async def close(self) -> None:
        return None
