"""Fetching articles by URL from a loopback HTTP server: what is served, what is refused and why."""

from __future__ import annotations

import pytest

from citebot.index.errors import DocumentRejected
from citebot.index.fetch import FetchPolicy, UrlRefused, check_address, fetch
from citebot.index.ingest import load_document

OPEN = FetchPolicy(allow_private=True, total_seconds=2.0)


def test_a_news_page_is_fetched_and_read_as_its_article(site: str) -> None:
    fetched = fetch(f"{site}/hop/2", OPEN)  # a redirect chain, each hop checked
    assert fetched.final_url == f"{site}/news" and fetched.name == "news.html"
    document = load_document(fetched.name, fetched.data)
    assert document.meta.title == "Harbour Town Votes to Lease Its Docks"
    assert document.meta.author == "Lars Holm" and document.meta.date == "2025-03-03"
    kept = " ".join(p.text for p in document.paragraphs)
    for boilerplate in ("cookies", "Weather", "Most read", "Finally some jobs", "All rights reserved"):
        assert boilerplate not in kept, boilerplate
    assert "nine votes to four" in kept and "petition with four thousand" in kept


@pytest.mark.parametrize(
    ("path", "policy", "message"),
    [
        ("/news", FetchPolicy(), "leads to a private or local address (127.0.0.1); refused"),
        ("/to-metadata", OPEN, "leads to a cloud metadata address (169.254.169.254); refused"),
        ("/hop/6", OPEN, "redirects more than 5 times"),
        ("/slow", FetchPolicy(allow_private=True, total_seconds=1.0), "did not answer within 1 s"),
        ("/endless", FetchPolicy(allow_private=True, max_bytes=100_000), "grew past the 100,000-byte limit"),
        ("/image", OPEN, "is image/png, not HTML, text, Markdown, PDF or Word"),
        ("/missing", OPEN, "answered HTTP 404"),
    ],
)
def test_unsafe_or_unusable_urls_are_refused_with_the_rule(
    site: str, path: str, policy: FetchPolicy, message: str
) -> None:
    with pytest.raises(UrlRefused) as refused:
        fetch(f"{site}{path}", policy)
    assert message in str(refused.value) and site.split("//")[1] in str(refused.value)


def test_a_redirect_to_loopback_is_refused_where_private_addresses_are(site: str) -> None:
    public_first = FetchPolicy()
    with pytest.raises(UrlRefused, match="private or local"):
        fetch(f"{site}/to-loopback", public_first)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.5",
        "172.16.9.9",
        "169.254.1.1",
        "::1",
        "fe80::1",
        "fc00::5",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
    ],
)
def test_every_non_public_address_is_refused(address: str) -> None:
    with pytest.raises(UrlRefused):
        check_address(address, "http://x/", FetchPolicy())


def test_only_http_and_https() -> None:
    for url in ("ftp://example.com/a.txt", "file:///etc/passwd", "javascript:alert(1)"):
        with pytest.raises(UrlRefused, match="only http and https"):
            fetch(url, OPEN)


def test_a_declared_charset_and_a_script_shell(site: str) -> None:
    czech = fetch(f"{site}/czech", OPEN)
    assert "řekl starosta Łukasz Novák" in " ".join(p.text for p in load_document(czech.name, czech.data).paragraphs)
    shell = fetch(f"{site}/shell", OPEN)
    with pytest.raises(DocumentRejected, match="built by scripts"):
        load_document(shell.name, shell.data)
