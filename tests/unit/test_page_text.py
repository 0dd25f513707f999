"""Page to text: main content without chrome, title and headings kept, never a crash."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.selectolax.html import html_to_text, parse_page

PAGE = """<!doctype html><html><head><title> The  Lighthouse </title><style>p{}</style></head>
<body><header><a href="/">Home</a> Site header</header>
<nav><a href="/a">Menu A</a></nav>
<main><header><h1>Keepers</h1></header><p>A rotating <b>beam</b> warns <a href="ships.html">ships</a>.</p>
<aside>Related links</aside><form><input name=q><button>Search</button></form>
<script>var tracking = 1;</script><h2>History</h2><p>Built in 1850.</p></main>
<footer>Copyright</footer></body></html>"""


def test_main_content_keeps_title_headings_and_text_and_drops_chrome() -> None:
    title, text = html_to_text(PAGE)
    assert title == "The Lighthouse"
    assert text == "Keepers A rotating beam warns ships . History Built in 1850."
    for chrome in ("Site header", "Menu A", "Related", "Search", "tracking", "Copyright", "p{}"):
        assert chrome not in text


def test_links_and_base_come_from_the_whole_page() -> None:
    page = parse_page(PAGE.replace("<head>", "<head><base href='/docs/'>"))
    assert page.links == ["/", "/a", "ships.html"] and page.base == "/docs/"


def test_without_main_the_body_is_used_without_its_chrome() -> None:
    title, text = html_to_text("<body><nav>menu</nav><div><h2>Notes</h2><p>plain page text</p></div></body>")
    assert title is None and text == "Notes plain page text"


def test_an_empty_main_falls_back_to_the_body() -> None:
    _, text = html_to_text("<body><main></main><div>the content is outside main here, long enough</div></body>")
    assert "outside main" in text


def test_bytes_follow_the_declared_encoding() -> None:
    html = '<meta charset="windows-1251"><p>Привет</p>'.encode("cp1251")
    assert html_to_text(html)[1] == "Привет"
    assert html_to_text("<p>café</p>".encode())[1] == "café"


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_input_gives_text_without_raising(markup) -> None:
    title, text = html_to_text(markup)
    assert isinstance(text, str) and (title is None or isinstance(title, str))


def test_role_main_is_the_root_without_main_and_is_cleaned() -> None:
    html = (
        "<body><nav>Site menu</nav><div role='main'><h1>Guide</h1><button>Copy</button>"
        "<p>Steps to follow, long enough to count as content.</p><script>x()</script></div>"
        "<footer>Legal</footer></body>"
    )
    assert html_to_text(html)[1] == "Guide Steps to follow, long enough to count as content."


def test_chrome_around_main_does_not_remove_main() -> None:
    # Some frameworks wrap the whole page in a <form>; only chrome inside <main> goes.
    html = (
        "<body><form id='page'><nav>Menu</nav><main><h1>Title</h1><aside>Related</aside><button>Search</button>"
        "<p>The article text, long enough to be the main content.</p></main></form></body>"
    )
    assert html_to_text(html)[1] == "Title The article text, long enough to be the main content."


def test_chrome_with_role_main_is_not_the_content() -> None:
    html = "<body><nav role='main'>Home About Contact and other menu entries</nav><p>The real page text.</p></body>"
    assert html_to_text(html)[1] == "The real page text."


def test_pages_parse_alike_in_parallel_threads() -> None:
    # The crawler parses big pages in worker threads; the CSS engine is per thread.
    from concurrent.futures import ThreadPoolExecutor

    pages = [PAGE.replace("Keepers", f"Keeper {i}").replace("<main>", "<div role=main>") for i in range(64)]
    with ThreadPoolExecutor(4) as pool:
        parsed = list(pool.map(parse_page, pages))
    for i, page in enumerate(parsed):
        assert page.text.startswith(f"Keeper {i} A rotating beam") and page.links == ["/", "/a", "ships.html"]
