"""A small web site on 127.0.0.1 for the URL tests: a news page with boilerplate, a page in
windows-1250, a script-only shell, redirect chains, a slow server, an endless body, redirects to
loopback and to a cloud metadata address, a page whose text can be changed, and a PDF."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NEWS = b"""<!doctype html><html><head><title>Harbour Town Votes to Lease Its Docks | The Gazette</title>
<meta name="author" content="Lars Holm"><meta property="article:published_time" content="2025-03-03T09:00:00Z">
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. <button>Accept all</button></div>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li>
<li><a href="/weather">Weather</a></li><li><a href="/opinion">Opinion</a></li></ul></nav>
<main><article><h1>Harbour Town Votes to Lease Its Docks</h1>
<p>The council of Harbour Town voted on Monday to lease its disused docks to a wind-turbine consortium,
ending a decade of debate about the future of the waterfront.</p>
<p>The vote passed by nine votes to four. The mayor said the lease would bring two hundred jobs to the
harbour within three years and that the first turbines would be assembled there next spring.</p>
<p>Opponents argued that the docks should have become a public park, and a petition with four thousand
signatures was handed to the council before the meeting began.</p>
</article></main>
<aside><h3>Most read</h3><ul><li><a href="/a">Ferry timetable changes</a></li>
<li><a href="/b">Bakery wins prize</a></li></ul></aside>
<section id="comments"><h3>Comments</h3><p>Finally some jobs! -- Bob, 2 hours ago</p></section>
<footer><p>&copy; 2025 The Gazette. All rights reserved.</p><a href="/privacy">Privacy</a></footer>
</body></html>"""
SHELL = b"""<!doctype html><html><head><title>Gazette</title><script src="/app.js"></script></head>
<body><noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div></body></html>"""
CZECH = (
    '<html><head><meta charset="windows-1250"><title>Radnice schválila pronájem doků</title></head><body>'
    "<h1>Radnice schválila pronájem doků</h1><p>Radní v pondělí schválili pronájem starých doků konsorciu, "
    "které v přístavu postaví větrné turbíny, řekl starosta Łukasz Novák.</p></body></html>"
).encode("windows-1250")


@functools.cache
def handbook_pdf() -> bytes:
    """A PDF of the Normans article (tests/paged_documents.py), several pages long."""
    from .paged_documents import PdfLayout, make_pdf, squad_paragraphs

    title, paragraphs = squad_paragraphs()
    return make_pdf(paragraphs[:14], PdfLayout(title=title, author="Wiki Editors")).data


LIVE = [NEWS.replace(b"nine votes to four", b"ten votes to three")]  # tests change LIVE[0]


class Pages(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path
        if path.startswith("/hop/"):
            n = int(path.rsplit("/", 1)[1])
            self._redirect("/news" if n == 0 else f"/hop/{n - 1}")
        elif path == "/to-loopback":
            self._redirect(f"http://127.0.0.1:{self.server.server_address[1]}/news")
        elif path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/slow":
            time.sleep(3)
            self._page(NEWS, "text/html")
        elif path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(10_000):
                    self.wfile.write(b"<p>" + b"more words " * 1000 + b"</p>")
            except OSError:
                pass
        elif path == "/image":
            self._page(b"\x89PNG\r\n", "image/png")
        elif path == "/normans.pdf":
            self._page(handbook_pdf(), "application/pdf")
        else:
            body = {"/news": NEWS, "/shell": SHELL, "/czech": CZECH, "/live": LIVE[0]}.get(path)
            if body is None:
                self.send_response(404)
                self.end_headers()
            else:
                self._page(body, "text/html; charset=utf-8" if path != "/czech" else "text/html")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.end_headers()

    def _page(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def serving() -> Iterator[str]:
    """The site on 127.0.0.1; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
