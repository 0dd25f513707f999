"""Operational views: is everything reachable, and what the jobs table holds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass

from domain.jobs import JobCensus
from domain.services.deps import Ports

# How many agents the per-agent vector gauge covers (the largest first): a metric per
# agent of a deployment with a million agents would overwhelm the scraper.
TOP_AGENTS = 50


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class TableSnapshot:
    census: JobCensus
    depth: dict[int, int]
    chunk_totals: dict[uuid.UUID, int]


class OperationsService:
    def __init__(self, ports: Ports, *, timeout: float = 3.0) -> None:
        self._ports = ports
        self._timeout = timeout

    async def readiness(self) -> list[Check]:
        """Database, queue and vector index reachable (each within ``timeout``)."""
        return list(
            await asyncio.gather(
                self._check("database", self._ports.store.ping()),
                self._check("queue", self._ports.queue.ping()),
                self._check("vector_index", self._ports.vectors.ping()),
            )
        )

    async def _check(self, name: str, probe: Awaitable[None]) -> Check:
        try:
            await asyncio.wait_for(probe, timeout=self._timeout)
        except TimeoutError:
            return Check(name, False, f"no answer within {self._timeout:g} s")
        except Exception as exc:
            return Check(name, False, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
        return Check(name, True, "reachable")

    async def snapshot(self) -> TableSnapshot:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            census = await uow.jobs.census()
            depth = await uow.jobs.queue_depth()
            totals = await uow.sources.chunk_totals(limit=TOP_AGENTS)
        return TableSnapshot(census=census, depth=depth, chunk_totals=dict(totals))
