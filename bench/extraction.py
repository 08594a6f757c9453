"""Article extraction from web pages: boilerplate kept, text lost, metadata found, time per page.

.venv/bin/python bench/extraction.py [--pages 60]

Pages are written here from six layouts real sites use (a news page with menus one item per line,
teasers, comments and a cookie banner; a blog with a sidebar; a magazine with JSON-LD and <time>;
a forum-like page; a page-wide <form>; a page with an unclosed <nav> and no </head>), each with
an article of readable sentences whose text is known. Scored as the extraction libraries score
themselves: word-level precision and recall of the extracted body against the article, and F1.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable

import common  # noqa: F401
from common import report
from corpus import sentence

from citebot.index.documents import BODY
from citebot.index.formats import html_to_text
from citebot.index.ingest import load_document, parse_document

MENU = ["Home", "World", "Politics", "Business", "Tech", "Science", "Sport", "Culture", "Opinion", "Weather"]
TEASERS = [
    "Ferry timetable changes for the winter season",
    "Local bakery wins a national prize for its rye bread",
    "Five things to know before the city marathon",
    "Why the old lighthouse is closing for repairs",
]


def article(rng: random.Random, number: int) -> tuple[str, str, str, list[str]]:
    title = f"Council Report {number}: {rng.choice(['Docks', 'Tariffs', 'Ferries', 'Budget', 'Wind Power'])} Decision"
    author = rng.choice(["Lars Holm", "Maria Quist", "Ada Crumb", "Tomas Berg"])
    date = f"2025-0{rng.randint(1, 9)}-{rng.randint(10, 28)}"
    paragraphs = [" ".join(sentence(rng, number * 100 + p * 3 + s) for s in range(3)) for p in range(rng.randint(4, 9))]
    return title, author, date, paragraphs


def news(title: str, author: str, date: str, body: list[str]) -> str:
    menu = "\n".join(f"<li><a href='/{m.lower()}'>{m}</a></li>" for m in MENU)
    teasers = "".join(f"<li><a href='/t{i}'>{t}</a></li>" for i, t in enumerate(TEASERS))
    paragraphs = "".join(f"<p>{p}</p>" for p in body)
    return (
        f"<html><head><title>{title} | The Gazette</title><meta name='author' content='{author}'>"
        f"<meta property='article:published_time' content='{date}T08:00:00Z'></head><body>"
        "<div class='cookie'>We use cookies to give you the best experience. <button>Accept</button></div>"
        f"<header><nav><ul>\n{menu}\n</ul></nav></header><main><article><h1>{title}</h1>"
        f"<p class='byline'>By {author}</p>{paragraphs}</article>"
        f"<section class='related'><h2>More from the Gazette</h2><ul>{teasers}</ul></section>"
        "<section id='comments'><h3>3 comments</h3><p>Great reporting! -- Sam, 2 hours ago</p>"
        "<p>About time the council did something. -- Jo, 1 hour ago</p></section></main>"
        "<footer><p>&copy; 2025 The Gazette. All rights reserved.</p><p>Subscribe to our newsletter</p></footer>"
        "</body></html>"
    )


def blog(title: str, author: str, date: str, body: list[str]) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<div id='wrap'><div id='content'><h2 class='entry-title'>{title}</h2>"
        f"<div class='meta'>Posted on <time datetime='{date}'>{date}</time> by <span class='author'>{author}</span>"
        f"</div><div class='entry'>{paragraphs}</div><div class='share'>Share: Facebook Twitter Email</div></div>"
        "<div id='sidebar'><h3>Archives</h3><ul><li>March 2025</li><li>February 2025</li></ul>"
        "<h3>Tags</h3><p>council harbour ferries budget</p></div></div></body></html>"
    )


def magazine(title: str, author: str, date: str, body: list[str]) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body)
    ld = (
        f'{{"@type": "NewsArticle", "headline": "{title}", "author": {{"name": "{author}"}}, '
        f'"datePublished": "{date}"}}'
    )
    return (
        f"<html><head><title>Magazine</title><script type='application/ld+json'>{ld}</script></head><body>"
        "<div class='promo'>Subscribe now: 3 months for 1 euro</div>"
        f"<div class='story'><h1 class='headline'>{title}</h1><div class='story-body'>{paragraphs}</div></div>"
        "<div class='newsletter'>Sign up for our daily briefing. Enter your email</div></body></html>"
    )


def forum(title: str, author: str, date: str, body: list[str]) -> str:
    paragraphs = "<br><br>".join(body)
    return (
        f"<html><head><title>{title} - Harbour Forum</title></head><body><table><tr><td>Forum index &raquo; "
        f"Local news</td></tr><tr><td><b>{title}</b><br>by {author} &raquo; {date}</td></tr><tr><td>{paragraphs}"
        "</td></tr><tr><td>Reply | Quote | Report</td></tr></table></body></html>"
    )


def aspnet(title: str, author: str, date: str, body: list[str]) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body)
    return (
        f"<html><head><title>{title}</title></head><body><form method='post' action='./page.aspx' id='form1'>"
        "<input type='hidden' name='__VIEWSTATE' value='abc'><div class='nav'>Home | About | Contact</div>"
        f"<div class='article'><h1>{title}</h1><p>By {author}, {date}</p>{paragraphs}</div>"
        "<div class='footer'>Terms | Privacy</div></form></body></html>"
    )


def broken(title: str, author: str, date: str, body: list[str]) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body)
    menu = "".join(f"<a href='/{m}'>{m}</a>" for m in MENU)
    return (
        f"<html><head><title>{title}</title><body><nav>{menu}"  # no </head>, the <nav> never closed
        f"<h1>{title}</h1><p>By {author}</p>{paragraphs}<p>Related: {TEASERS[0]}</p></body></html>"
    )


# What each layout states; author and date are scored only where the page states them.
STATES_DATE = {"news", "blog", "magazine", "forum", "aspnet"}

LAYOUTS: dict[str, Callable[[str, str, str, list[str]], str]] = {
    "news": news,
    "blog": blog,
    "magazine": magazine,
    "forum": forum,
    "aspnet": aspnet,
    "broken": broken,
}


def words(text: str) -> Counter[str]:
    return Counter(w.strip(".,;:!?\"'()").lower() for w in text.split() if w.strip(".,;:!?\"'()"))


def score(extracted: str, gold: str) -> tuple[float, float]:
    got, want = words(extracted), words(gold)
    common_words = sum((got & want).values())
    precision = common_words / max(1, sum(got.values()))
    recall = common_words / max(1, sum(want.values()))
    return precision, recall


def citebot_now(html: bytes) -> tuple[str, str, str | None, str | None]:
    document = load_document("page.html", html, split=False)
    body = " ".join(p.text for p in document.paragraphs if p.part == BODY)
    return body, document.meta.title, document.meta.author, document.meta.date


def citebot_before(html: bytes) -> tuple[str, str, str | None, str | None]:
    """0.1's path: every visible line (a hand-written HTML parser), then the plain-text furniture rules."""
    text, title = html_to_text(html.decode("utf-8"))
    document = parse_document(text, "page.html", title, split=False)
    body = " ".join(p.text for p in document.paragraphs if p.part == BODY)
    return body, document.meta.title, document.meta.author, document.meta.date


def visible_text(html: bytes) -> tuple[str, str, str | None, str | None]:
    text, title = html_to_text(html.decode("utf-8"))
    return text, title or "", None, None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=60)
    args = parser.parse_args()
    rng = random.Random(17)
    pages = []
    for number in range(args.pages):
        layout = list(LAYOUTS)[number % len(LAYOUTS)]
        title, author, date, body = article(rng, number)
        pages.append((layout, LAYOUTS[layout](title, author, date, body).encode(), title, author, date, body))
    rows, data = [], {}
    for name, extractor in (
        ("citebot now (trafilatura)", citebot_now),
        ("citebot 0.1", citebot_before),
        ("all visible text", visible_text),
    ):
        precisions, recalls, titles, authors, dates, failed, boilerplate_pages = [], [], 0, 0, 0, 0, 0
        dated = sum(1 for page in pages if page[0] in STATES_DATE)
        for layout, html, title, author, date, body in pages:
            try:
                extracted, got_title, got_author, got_date = extractor(html)
            except Exception:  # noqa: BLE001 - a refused page scores zero recall
                failed += 1
                precisions.append(0.0)
                recalls.append(0.0)
                continue
            precision, recall = score(extracted, " ".join(body))
            precisions.append(precision)
            recalls.append(recall)
            boilerplate_pages += precision < 0.999
            titles += (got_title or "").strip() == title
            authors += (got_author or "") == author
            dates += layout in STATES_DATE and (got_date or "")[:10] == date
        p, r = statistics.fmean(precisions), statistics.fmean(recalls)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        n = len(pages)
        rows.append(
            (
                f"{name}: precision / recall / F1",
                f"{p:.3f} / {r:.3f} / {f1:.3f}",
                f"boilerplate kept on {boilerplate_pages}/{n} pages; {failed} refused",
            )
        )
        rows.append(
            (
                f"{name}: title / author / date found",
                f"{titles}/{n} · {authors}/{n} · {dates}/{dated}",
                "date: of the pages that state one",
            )
        )
        data[name] = {
            "precision": p,
            "recall": r,
            "f1": f1,
            "boilerplate_pages": boilerplate_pages,
            "refused": failed,
            "title": titles / n,
            "author": authors / n,
            "date": dates / dated,
        }
    # A typical 100 KB page: the news layout with a long article and a long comment thread.
    title, author, date, body = article(random.Random(3), 999)
    big = (
        news(title, author, date, body * 16)
        .replace(
            "</section></main>",
            "".join(f"<p>Comment {i}: {sentence(rng, i)}</p>" for i in range(300)) + "</section></main>",
        )
        .encode()
    )
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        load_document("page.html", big)
        times.append(time.perf_counter() - t0)
    median_ms = statistics.median(times) * 1000
    rows.append((f"ingest of a {len(big) / 1000:.0f} KB page, median of 15 (ms)", round(median_ms, 1), "target <= 100"))
    data["ingest_100kb_ms"] = median_ms
    report("extraction", rows, {"pages": len(pages), "layouts": list(LAYOUTS), **data})


if __name__ == "__main__":
    main()
