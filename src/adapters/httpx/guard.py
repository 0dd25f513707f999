"""The SSRF guard at connection time, as an httpcore network backend under httpx.

Every TCP connection httpx opens goes through ``GuardedBackend.connect_tcp``: the port
is checked, the host resolved once (a literal address in any spelling, including
``2130706433`` or ``0x7f.1``, is read by ``domain.netpolicy`` and never handed to a
resolver), every address checked against the ``NetPolicy``, and the socket opened to a
checked address. The URL keeps its host name, so the ``Host`` header, TLS SNI and
certificate checks use the name while the connection goes where the check said (no
second lookup, so DNS rebinding has nothing to race). A redirect to another host opens
a new connection, and so passes the guard again.

A refusal raises ``AddressBlocked``, which httpx lets through unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable

import httpcore
import httpx

from domain.netpolicy import NetPolicy

Resolver = Callable[[str, int], Awaitable[list[str]]]


class AddressBlocked(Exception):
    """The policy refuses this connection; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(
        self,
        policy: NetPolicy,
        *,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._resolve = resolver or system_resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for ``host:port``; raises
        ``AddressBlocked`` if any of them (or the port) is refused."""
        reason = self.policy.port_refusal(port)
        if reason is not None:
            raise AddressBlocked(reason)
        literal = self.policy.literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            reason = self.policy.host_refusal(host)
            if reason is not None:
                raise AddressBlocked(f"{host} is {reason}")
            try:
                addresses = await self._resolve(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
            if not addresses:
                raise httpcore.ConnectError(f"cannot resolve {host}: no address")
        for address in addresses:
            reason = self.policy.address_refusal(address)
            if reason is not None:
                shown = host if host == address else f"{host} resolves to {address}, which"
                raise AddressBlocked(f"{shown} is {reason}")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        async with asyncio.timeout(timeout):
            addresses = await self.addresses(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressBlocked("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def default_ssl_context(verify: bool = True) -> ssl.SSLContext:
    """One context per process: loading the CA bundle costs tens of milliseconds."""
    return httpx.create_ssl_context(verify=verify)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (HTTP/1.1, pooling, error mapping) over a guarded backend."""

    def __init__(self, backend: GuardedBackend, *, limits: httpx.Limits, verify: ssl.SSLContext | bool = True) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else default_ssl_context(verify)
        super().__init__(limits=limits, trust_env=False, verify=context)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )
