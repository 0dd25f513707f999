"""The webhook sender on httpx: one POST, to the very address the SSRF policy checked.

The host is resolved here, every address it resolves to is checked with
``domain.netpolicy`` (unless private networks are allowed), and the request goes to the
first address: the URL's host is replaced by that IP, the ``Host`` header and TLS SNI
(and so certificate verification) keep the name. No second lookup can answer
differently (DNS rebinding). Because requests are addressed by IP, connections are never
kept alive: a pooled connection to one IP must not carry another name's TLS session.

No redirects are followed, proxies from the environment are ignored (they would break the
pinning), and the response body is read up to a small cap and dropped.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import httpx

import sluice
from domain.netpolicy import NetPolicy
from ports.webhooks import WebhookBlocked, WebhookUnreachable

Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_RESPONSE_BYTES = 64 * 1024


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class HttpxWebhookSender:
    """``WebhookSender`` over HTTP/1.1 with httpx."""

    def __init__(
        self,
        *,
        allow_private_networks: bool = False,
        resolver: Resolver | None = None,
        user_agent: str | None = None,
    ) -> None:
        self._allow_private = allow_private_networks
        # The crawler's policy: any port (the receiver chose it), cloud metadata
        # addresses refused even when private networks are allowed.
        self._policy = NetPolicy(allow_private=allow_private_networks, allowed_ports=None)
        self._resolve = resolver or resolve
        self._user_agent = user_agent or f"Sluice-Webhooks/{sluice.__version__}"
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        return self._client

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
        try:
            target = httpx.URL(url)
            async with asyncio.timeout(timeout):
                return await self._post(target, body, headers, timeout)
        except (WebhookBlocked, WebhookUnreachable):
            raise
        except TimeoutError:
            raise WebhookUnreachable(f"no answer within {timeout:g}s") from None
        except httpx.TimeoutException as exc:
            raise WebhookUnreachable(f"no answer within {timeout:g}s ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise WebhookUnreachable(f"could not reach the webhook: {_describe(exc)}") from exc
        except OSError as exc:
            raise WebhookUnreachable(f"could not reach the webhook: {_describe(exc)}") from exc
        except Exception as exc:
            raise WebhookUnreachable(f"could not send the webhook: {_describe(exc)}") from exc

    async def _post(self, target: httpx.URL, body: bytes, headers: dict[str, str], timeout: float) -> int:
        if target.scheme not in ("http", "https"):
            raise WebhookBlocked(f"webhook URLs must be http or https, not {target.scheme!r}")
        host = target.raw_host.decode("ascii")
        port = target.port or (443 if target.scheme == "https" else 80)
        address = await self._address(host, port)
        extensions = {"sni_hostname": host} if target.scheme == "https" else {}
        request_headers = {
            **headers,
            "Host": target.netloc.decode("ascii"),
            "User-Agent": self._user_agent,
            "Accept": "*/*",
        }
        stream = self._http().stream(
            "POST",
            target.copy_with(host=address),
            content=body,
            headers=request_headers,
            extensions=extensions,
            timeout=timeout,
        )
        async with stream as response:
            seen = 0
            async for chunk in response.aiter_raw():
                seen += len(chunk)
                if seen >= MAX_RESPONSE_BYTES:
                    break
            return response.status_code

    async def _address(self, host: str, port: int) -> str:
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            raise WebhookUnreachable(f"cannot resolve {host}: {_describe(exc)}") from exc
        if not addresses:
            raise WebhookUnreachable(f"cannot resolve {host}: no address")
        for address in addresses:
            reason = self._policy.address_refusal(address)
            if reason is not None:
                hint = "" if self._allow_private else " (set WEBHOOK_ALLOW_PRIVATE_NETWORKS=1 to allow them)"
                raise WebhookBlocked(
                    f"the webhook host {host} resolves to {address}, {reason}; internal addresses are refused{hint}"
                )
        return addresses[0].split("%", 1)[0]

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
