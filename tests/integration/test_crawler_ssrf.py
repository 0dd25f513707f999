"""The SSRF guard, with private networks refused (the default): every spelling of an
internal address, and every name resolving to one, is refused before any connection.

The crawler runs for real, over a network backend that records connection attempts
instead of making them, and a resolver the test controls.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field

import httpcore
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.httpx.crawler import CrawlerSettings, HttpxWebCrawler
from domain.crawling import CrawlOptions, CrawlReport
from domain.netpolicy import NetPolicy
from ports.crawl import CrawlBlocked, CrawlUnavailable

INTERNAL_V4 = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
INTERNAL_V6 = ["::1/128", "fe80::/10", "fc00::/7", "ff00::/8", "::/128"]
METADATA = ["169.254.169.254", "100.100.100.200", "168.63.129.16", "fd00:ec2::254"]


@dataclass
class RecordingNetwork(httpcore.AsyncNetworkBackend):
    """Records every connection attempt and refuses it (the tests need none)."""

    connects: list[tuple[str, int]] = field(default_factory=list)

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connects.append((host, port))
        raise httpcore.ConnectError("no network in this test")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AssertionError("unix socket")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class Resolver:
    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"unknown host {host}")
        return self.answers[host]


def internal_v4() -> st.SearchStrategy[ipaddress.IPv4Address]:
    return st.one_of(
        *(st.ip_addresses(v=4, network=n) for n in INTERNAL_V4),
        st.sampled_from([ipaddress.IPv4Address(a) for a in METADATA if ":" not in a]),
    )


def internal_v6() -> st.SearchStrategy[ipaddress.IPv6Address]:
    return st.one_of(
        *(st.ip_addresses(v=6, network=n) for n in INTERNAL_V6),
        st.just(ipaddress.IPv6Address("fd00:ec2::254")),
    )


@st.composite
def ipv4_spelling(draw, address: ipaddress.IPv4Address) -> str:
    """One of the many ways inet_aton and browsers read an IPv4 address."""
    value = int(address)
    octets = list(address.packed)

    def part(n: int) -> str:
        style = draw(st.sampled_from(["dec", "oct", "hex", "HEX"]))
        if style == "oct":
            return "0" + format(n, "o")
        if style == "hex":
            return hex(n)
        if style == "HEX":
            return "0X" + format(n, "X")
        return str(n)

    form = draw(st.sampled_from(["dotted", "int", "three", "two", "parts"]))
    if form == "int":
        text = part(value)
    elif form == "three":
        text = ".".join([part(octets[0]), part(octets[1]), part(value & 0xFFFF)])
    elif form == "two":
        text = ".".join([part(octets[0]), part(value & 0xFFFFFF)])
    elif form == "parts":
        text = ".".join(part(o) for o in octets)
    else:
        text = str(address)
    return text + draw(st.sampled_from(["", "."]))


@st.composite
def ipv6_spelling(draw) -> str:
    """Brackets around an internal IPv6 address, or an IPv4 one embedded in IPv6."""
    kind = draw(st.sampled_from(["v6", "mapped", "mapped-hex", "nat64", "6to4", "compat"]))
    if kind == "v6":
        return f"[{draw(internal_v6()).compressed}]"
    v4 = draw(internal_v4())
    if kind == "mapped":
        return f"[::ffff:{v4}]"
    if kind == "mapped-hex":
        return f"[{ipaddress.IPv6Address(int(ipaddress.IPv6Address('::ffff:0:0')) | int(v4)).compressed}]"
    if kind == "nat64":
        return f"[64:ff9b::{v4}]"
    if kind == "6to4":
        return f"[{ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80) | 1).compressed}]"
    if int(v4) <= 1:  # ::, ::1 are themselves, not IPv4-compatible forms
        return f"[::{v4}]" if int(v4) else "[::]"
    return f"[::{v4}]"


@st.composite
def literal_urls(draw) -> str:
    host = draw(st.one_of(internal_v4().flatmap(ipv4_spelling), ipv6_spelling()))
    return _url(draw, host)


def _url(draw, host: str) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP"]))
    userinfo = draw(st.sampled_from(["", "user@", "user:pass@", "example.com@"]))
    default = 443 if scheme.lower() == "https" else 80
    port = draw(st.sampled_from(["", f":{default}"]))
    path = draw(st.sampled_from(["/", "", "/latest/meta-data/", "/a?b=c#d"]))
    return f"{scheme}://{userinfo}{host}{port}{path}"


@st.composite
def named_urls(draw) -> tuple[str, str, list[str]]:
    """A host name resolving to addresses of which at least one is internal."""
    name = draw(st.from_regex(r"[a-z][a-z0-9-]{0,12}\.(example|test|internal)", fullmatch=True))
    bad = str(draw(st.one_of(internal_v4(), internal_v6())))
    good = draw(st.lists(st.sampled_from(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]), max_size=2))
    addresses = draw(st.permutations([*good, bad]))
    return _url(draw, name), name, list(addresses)


def strict_crawler(resolver: Resolver, network: RecordingNetwork) -> HttpxWebCrawler:
    return HttpxWebCrawler(CrawlerSettings(policy=NetPolicy()), resolver=resolver, network=network)


async def assert_refused(url: str, resolver: Resolver, network: RecordingNetwork) -> None:
    crawler = strict_crawler(resolver, network)
    with pytest.raises(CrawlBlocked):
        await crawler.check(url)
    report = CrawlReport()
    with pytest.raises(CrawlBlocked):
        async for _ in crawler.crawl(url, CrawlOptions(), report):
            pass
    assert network.connects == [], f"{url} made a connection"


EXAMPLES = 300


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(url=literal_urls())
async def test_internal_addresses_in_any_spelling_are_refused_without_lookup_or_connection(url: str) -> None:
    resolver, network = Resolver(), RecordingNetwork()
    await assert_refused(url, resolver, network)
    assert resolver.asked == [], f"{url} was handed to the resolver"


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=named_urls())
async def test_names_resolving_to_an_internal_address_are_refused_before_connecting(case) -> None:
    url, name, addresses = case
    resolver, network = Resolver({name: addresses}), RecordingNetwork()
    await assert_refused(url, resolver, network)
    assert name in resolver.asked


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://LOCALHOST./",
        "http://app.localhost/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.1/",
        "http://0/",
        "http://[::]/",
        "http://[0:0:0:0:0:ffff:7f00:1]/",
        "http://[fe80::1%25eth0]/",
        "http://256.1/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://example.com:8080/",
        "http://[::ffff:169.254.169.254]/",
        "http://169.254.169.254.nip.io/",
    ],
)
async def test_known_bypass_forms_are_refused(url: str) -> None:
    resolver = Resolver({"169.254.169.254.nip.io": ["169.254.169.254"]})
    network = RecordingNetwork()
    await assert_refused(url, resolver, network)


async def test_a_public_name_is_connected_to_at_the_address_that_was_checked() -> None:
    """The control: the same machinery lets a public site through, and connects to the
    resolved, checked address (not to the name, which would mean a second lookup)."""
    resolver = Resolver({"docs.example.test": ["93.184.215.14"]})
    network = RecordingNetwork()
    crawler = strict_crawler(resolver, network)
    assert await crawler.check("https://Docs.Example.TEST/guide/#intro") == "https://docs.example.test/guide/"
    report = CrawlReport()
    with pytest.raises(CrawlUnavailable, match=r"robots\.txt"):
        async for _ in crawler.crawl("https://docs.example.test/guide/", CrawlOptions(), report):
            pass
    assert network.connects and set(network.connects) == {("93.184.215.14", 443)}


async def test_metadata_addresses_stay_refused_when_private_networks_are_allowed() -> None:
    network = RecordingNetwork()
    crawler = HttpxWebCrawler(
        CrawlerSettings(policy=NetPolicy(allow_private=True)),
        resolver=Resolver({"meta.test": ["169.254.169.254"], "intranet.test": ["10.1.2.3"]}),
        network=network,
    )
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://meta.test/", "http://0xa9fea9fe/"):
        with pytest.raises(CrawlBlocked, match="metadata"):
            await crawler.check(url)
    assert await crawler.check("http://intranet.test/") == "http://intranet.test/"
    assert network.connects == []


async def test_webhooks_share_the_policy_metadata_refused_even_with_private_networks_allowed() -> None:
    from adapters.httpx.webhooks import HttpxWebhookSender
    from ports.webhooks import WebhookBlocked

    sender = HttpxWebhookSender(
        allow_private_networks=True, resolver=Resolver({"hooks.test": ["10.0.0.7", "168.63.129.16"]})
    )
    try:
        with pytest.raises(WebhookBlocked, match="metadata"):
            await sender.post("http://hooks.test/h", b"{}", {}, timeout=2)
    finally:
        await sender.close()
