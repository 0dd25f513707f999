"""The pure rules of crawling: URL normalization, page identity, scope, options, report,
and the SSRF address policy's reading of numeric hosts."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.crawling import MAX_LISTED, CrawlOptions, CrawlReport, in_scope, normalize_url, origin_of, page_key
from domain.errors import InvalidInput
from domain.netpolicy import NetPolicy, blocked_host, loose_ipv4


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("HTTP://Example.COM:80/a/./b/../c#frag", None, "http://example.com/a/c"),
        ("https://example.com:443", None, "https://example.com/"),
        ("https://example.com:8443/x", None, "https://example.com:8443/x"),
        ("../up?b=2&a=1", "https://example.com/docs/page/", "https://example.com/docs/up?a=1&b=2"),
        ("/s?sid=9&q=x&utm_source=mail&PHPSESSID=1", "https://example.com/", "https://example.com/s?q=x"),
        ("/app;jsessionid=ABC/page", "https://example.com/", "https://example.com/app/page"),
        ("/caf%c3%a9 x", "https://example.com/", "https://example.com/caf%C3%A9%20x"),
        ("//other.example/p", "https://example.com/", "https://other.example/p"),
        ("mailto:a@example.com", "https://example.com/", None),
        ("javascript:alert(1)", "https://example.com/", None),
        ("#top", "https://example.com/", None),
        ("ftp://example.com/f", None, None),
        ("http://[::1]:8080/x", None, "http://[::1]:8080/x"),
        ("http://bad:port/", None, None),
    ],
)
def test_links_are_normalized(href, base, expected) -> None:
    assert normalize_url(href, base) == expected


def test_one_page_has_one_key_however_it_is_spelled() -> None:
    spellings = [
        "https://example.com/docs/",
        "https://example.com/docs",
        "https://example.com/docs/index.html",
        "https://EXAMPLE.com:443/docs/#intro",
        "https://example.com/docs/?utm_campaign=x",
    ]
    assert len({page_key(normalize_url(s) or "") for s in spellings}) == 1
    assert page_key("https://example.com/a?x=1") != page_key("https://example.com/a?x=2")


paths = st.lists(st.sampled_from(["a", "b", "..", ".", "index.html", "x y", "%41", ""]), max_size=6)
queries = st.lists(st.tuples(st.sampled_from(["a", "b", "sid", "utm_x", "q"]), st.text("xyz1", max_size=3)), max_size=4)


@given(path=paths, query=queries, trailing=st.booleans(), fragment=st.text("abc", max_size=3))
def test_normalizing_twice_changes_nothing(path, query, trailing, fragment) -> None:
    q = "&".join(f"{k}={v}" for k, v in query)
    url = "https://example.com/" + "/".join(path) + ("/" if trailing else "") + (f"?{q}" if q else "")
    once = normalize_url(url + (f"#{fragment}" if fragment else ""))
    assert once is not None and "#" not in once
    assert normalize_url(once) == once
    assert in_scope(once, origin_of(url))


def test_scope_is_the_start_pages_host_and_port() -> None:
    origin = origin_of("https://docs.example.com/start")
    assert in_scope("http://docs.example.com/other", origin)  # http and https of one site
    assert not in_scope("https://www.docs.example.com/", origin)  # no subdomains
    assert not in_scope("https://example.com/", origin)
    assert not in_scope("https://docs.example.com:8443/", origin)


def test_options_validate_themselves_and_filter_paths() -> None:
    options = CrawlOptions(include_paths=("blog/*", "/docs/*"), exclude_paths=("*/drafts/*", "*?print=1"))
    assert options.include_paths == ("/blog/*", "/docs/*")
    assert options.path_allowed("https://x.example/blog/2024/post")
    assert not options.path_allowed("https://x.example/shop/")
    assert not options.path_allowed("https://x.example/docs/drafts/a")
    assert not options.path_allowed("https://x.example/docs/a?print=1")
    assert CrawlOptions.from_dict(options.to_dict()) == options
    for bad in ({"max_pages": 0}, {"max_depth": -1}, {"include_paths": ("",)}, {"exclude_paths": ("x",) * 51}):
        with pytest.raises(InvalidInput):
            CrawlOptions(**bad)


def test_the_report_counts_everything_and_lists_a_bounded_number() -> None:
    report = CrawlReport()
    for i in range(MAX_LISTED + 50):
        report.record(f"https://x.example/{i}", "out_of_scope")
    report.record("https://x.example/slow", "timeout", "no answer")
    result = report.result()
    assert result["pages_skipped"] == MAX_LISTED + 50 and len(result["skipped"]) == MAX_LISTED
    assert result["failed"] == [{"url": "https://x.example/slow", "reason": "timeout", "detail": "no answer"}]
    assert result["reasons"] == {"out_of_scope": MAX_LISTED + 50, "timeout": 1}


@given(value=st.integers(0, 2**32 - 1), style=st.sampled_from(["int", "hex", "oct", "dotted-hex", "short"]))
def test_numeric_hosts_are_read_as_inet_aton_reads_them(value: int, style: str) -> None:
    address = ipaddress.IPv4Address(value)
    o = address.packed
    host = {
        "int": str(value),
        "hex": hex(value),
        "oct": "0" + format(value, "o"),
        "dotted-hex": ".".join(hex(b) for b in o),
        "short": f"{o[0]}.{o[1]}.{value & 0xFFFF}",
    }[style]
    assert loose_ipv4(host) == address
    assert socket.inet_aton(host) == address.packed  # the same reading as the C library


def test_the_policy_checks_scheme_host_and_port() -> None:
    strict = NetPolicy()
    assert strict.url_refusal("https", "example.com", None) is None
    assert "scheme" in (strict.url_refusal("file", "", None) or "")
    assert "port 8080" in (strict.url_refusal("http", "example.com", 8080) or "")
    assert "loopback" in (strict.url_refusal("http", "0x7f.1", None) or "")
    assert blocked_host("256.1") == "a malformed numeric address"
    assert strict.address_refusal("168.63.129.16") == "a cloud metadata address"
    relaxed = NetPolicy(allow_private=True, allowed_ports=None)
    assert relaxed.url_refusal("http", "10.0.0.5", 8080) is None
    assert relaxed.address_refusal("::ffff:169.254.169.254") == "a cloud metadata address"
