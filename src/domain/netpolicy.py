"""Which network addresses an outgoing request may reach: the SSRF address policy.

A server that sends requests to URLs its users chose (webhooks, crawls) must not become
their way into its own network: loopback, private ranges, link-local (the cloud
metadata service at 169.254.169.254), carrier-grade NAT, multicast and the rest. The
check runs on the *resolved* address, just before connecting, and the connection must
then go to that very address (a second lookup could answer differently: DNS rebinding).

Addresses that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
``::a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:aabb:ccdd::``) are judged by the
IPv4 address they reach. Pure: the caller resolves names and decides what to do.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named ranges that ``ipaddress``'s flags do not single out (or that deserve a clearer
# word than "not global" in an error message).
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_TEREDO = ipaddress.ip_network("2001::/32")
# Cloud metadata services on addresses the ranges above do not all cover.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure wire server (a public address, so named here)
        "fd00:ec2::254",  # AWS over IPv6
    )
)
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def _metadata(address: IPAddress) -> bool:
    if address in METADATA_ADDRESSES:
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        return embedded is not None and embedded in METADATA_ADDRESSES
    return False


def parse_address(value: str | IPAddress) -> IPAddress | None:
    """The address ``value`` spells (a zone suffix ``%eth0`` is dropped), or None."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    text = value.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def blocked_reason(value: str | IPAddress) -> str | None:
    """Why an outgoing request must not reach this address, or None when it may."""
    address = parse_address(value)
    if address is None:
        return "not an IP address"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = blocked_reason(embedded)
            return None if reason is None else f"{reason} (embedded in {address})"
        if address in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        if address in _TEREDO:
            return "a Teredo tunnel address"
        if address.is_site_local:
            return "a site-local address"
    return _flagged(address)


def _flagged(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a carrier-grade NAT address"
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fc00::/7"):
        return "a unique local address"
    if address.is_private:
        return "a private or special-purpose address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        # Documentation, benchmarking and other special-purpose ranges.
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    # IPv4-compatible (::a.b.c.d, deprecated); :: and ::1 are judged as themselves.
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def blocked_host(host: str) -> str | None:
    """Why a URL's host is refused before any lookup: a blocked literal address or a
    name that always means this machine. None when only resolving can tell."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name:
        return "no host"
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return "a name of this machine"
    if parse_address(name) is not None:
        return blocked_reason(name)
    loose = loose_ipv4(name)
    if loose is not None:
        return blocked_reason(loose)
    if _ipv4_part(name.rsplit(".", 1)[-1]) is not None:
        # Browsers refuse a host ending in a number that is no IPv4 address; resolvers
        # may read it some other way.
        return "a malformed numeric address"
    return None


def loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host spelled the lenient way means, or None.

    ``inet_aton`` (and so ``getaddrinfo``) and browsers (the WHATWG URL standard) read
    ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` and ``127.1`` as 127.0.0.1: one to four
    dot-separated parts, each decimal, octal (leading 0) or hex (0x), the last part
    filling the remaining bytes. A host like that must be judged as that address, never
    handed to a resolver that may read it differently.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    parts = name.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        number = _ipv4_part(part)
        if number is None:
            return None
        numbers.append(number)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_part(part: str) -> int | None:
    try:
        if part.startswith("0x"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class NetPolicy:
    """Where an outgoing request may go: schemes, ports, and (unless private networks
    are allowed) only public addresses. ``allowed_ports`` None means any port."""

    allow_private: bool = False
    allowed_ports: frozenset[int] | None = frozenset({80, 443})
    schemes: frozenset[str] = frozenset({"http", "https"})

    def url_refusal(self, scheme: str, host: str, port: int | None) -> str | None:
        """Why a URL may not be fetched, judged before any lookup (scheme, host, then
        port); None if only the resolved addresses can tell (or it may be fetched)."""
        if scheme.lower() not in self.schemes:
            return f"the scheme {scheme!r} is not allowed (only http and https)"
        reason = self.host_refusal(host)
        if reason is not None:
            return reason
        if port is None:
            port = 443 if scheme.lower() == "https" else 80
        return self.port_refusal(port)

    def host_refusal(self, host: str) -> str | None:
        """Why a host is refused by itself. Cloud metadata addresses are refused even
        when private networks are allowed: no crawl or webhook has business there."""
        if not host.strip().strip("[]"):
            return "no host"
        literal = self.literal(host)
        if literal is not None and literal in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if self.allow_private:
            return None
        return blocked_host(host)

    def port_refusal(self, port: int) -> str | None:
        if self.allowed_ports is not None and port not in self.allowed_ports:
            allowed = ", ".join(str(p) for p in sorted(self.allowed_ports))
            return f"port {port} is not allowed (allowed: {allowed})"
        return None

    def address_refusal(self, address: str | IPAddress) -> str | None:
        """Why a resolved address may not be connected to, or None."""
        parsed = parse_address(address)
        if parsed is None:
            return "not an IP address"
        if self.allow_private:
            return "a cloud metadata address" if _metadata(parsed) else None
        return blocked_reason(parsed)

    def literal(self, host: str) -> IPAddress | None:
        """The address a host names by itself (any spelling), so no lookup is made."""
        return parse_address(host) or loose_ipv4(host)
