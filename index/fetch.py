"""URL → bytes and content type, refusing what is unsafe: fetching is its own step, apart from extraction.

Only http and https; at most 5 redirects, each hop checked again; 10 s in all; the size cap
enforced while reading; HTML, plain text and Markdown only. Against server-side request forgery
the host is resolved once, every address it resolves to is checked, and the connection goes to an
address that was checked (no second lookup that DNS rebinding could change): loopback, private,
link-local, multicast and reserved addresses are refused unless `allow_private` (a self-hoster's
LAN, the tests), and cloud metadata addresses always.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from .errors import UrlRefused

MAX_REDIRECTS = 5
TOTAL_SECONDS = 10.0
ACCEPTED_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
# Instance-metadata services: refused even where private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
USER_AGENT = "citebot (+https://github.com/; reads one article a member asked for)"


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 2_000_000
    allow_private: bool = False
    total_seconds: float = TOTAL_SECONDS
    max_redirects: int = MAX_REDIRECTS


@dataclass(frozen=True)
class Fetched:
    """What a URL returned: its bytes, where they came from after redirects, and a file name for them."""

    url: str
    final_url: str
    data: bytes
    content_type: str

    @property
    def name(self) -> str:
        """A file name that tells ingest how to read the bytes (…html, …txt, …md, …pdf or …docx)."""
        path = (
            urlsplit(self.final_url).path.rstrip("/").rsplit("/", 1)[-1] or urlsplit(self.final_url).hostname or "page"
        )
        stem = path.rsplit(".", 1)[0][:80] or "page"
        return stem + ACCEPTED_TYPES[self.content_type]


def check_address(address: str, url: str, policy: FetchPolicy) -> None:
    """Refuse an address a member's URL must never make the bot connect to."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        raise UrlRefused(f"{url} leads to a cloud metadata address ({ip}); refused.")
    if policy.allow_private:
        return
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        raise UrlRefused(
            f"{url} leads to a private or local address ({ip}); refused (ALLOW_PRIVATE_URLS=true allows it)."
        )
    if not ip.is_global:
        raise UrlRefused(f"{url} leads to an address that is not public ({ip}); refused.")


def resolve_checked(host: str, port: int, url: str, policy: FetchPolicy, timeout: float) -> list[str]:
    """Every address `host` resolves to, each checked; refused if any one is unsafe."""
    try:
        ipaddress.ip_address(host)
        addresses = [host]
    except ValueError:
        socket.setdefaulttimeout(timeout)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise UrlRefused(f"{url}: the host {host} cannot be resolved ({exc.strerror or exc}).") from exc
        finally:
            socket.setdefaulttimeout(None)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UrlRefused(f"{url}: the host {host} has no address.")
    for address in addresses:
        check_address(address, url, policy)
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address that was checked, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)  # the name is still verified


def fetch(url: str, policy: FetchPolicy) -> Fetched:
    """GET `url` under every rule above; raise UrlRefused with the rule and the URL on any breach."""
    deadline = time.monotonic() + policy.total_seconds
    current = url.strip()
    for _hop in range(policy.max_redirects + 1):
        try:
            response, connection = _request(current, policy, deadline)
        except UrlRefused as refused:
            if current != url.strip():
                raise UrlRefused(f"{refused} (redirected from {url})") from refused
            raise
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise UrlRefused(f"{current} redirects without saying where.")
                current = urljoin(current, location)
                continue
            if response.status != 200:
                raise UrlRefused(f"{current} answered HTTP {response.status}.")
            content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if content_type not in ACCEPTED_TYPES:
                raise UrlRefused(
                    f"{current} is {content_type or 'of no stated type'}, not HTML, text, Markdown, PDF or Word."
                )
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                raise UrlRefused(f"{current} is {int(declared):,} bytes; the limit is {policy.max_bytes:,}.")
            data = _read_capped(response, connection, current, policy, deadline)
            return Fetched(url, current, data, content_type)
        finally:
            response.close()
            connection.close()
    raise UrlRefused(f"{url} redirects more than {policy.max_redirects} times.")


def _request(
    url: str, policy: FetchPolicy, deadline: float
) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(f"{url}: only http and https links can be added.")
    if not parts.hostname:
        raise UrlRefused(f"{url} names no host.")
    if parts.username or parts.password:
        raise UrlRefused(f"{url} carries a user name or password; refused.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    remaining = _remaining(deadline, url)
    address = resolve_checked(parts.hostname, port, url, policy, remaining)[0]
    cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = cls(parts.hostname, port, address, timeout=remaining)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "GET",
            target,
            headers={"User-Agent": USER_AGENT, "Accept": ", ".join(ACCEPTED_TYPES), "Accept-Encoding": "identity"},
        )
        response = connection.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        if isinstance(exc, TimeoutError) or time.monotonic() > deadline:
            raise UrlRefused(f"{url} did not answer within {policy.total_seconds:g} s.") from exc
        raise UrlRefused(f"{url} could not be fetched ({type(exc).__name__}).") from exc
    return response, connection


def _read_capped(
    response: http.client.HTTPResponse,
    connection: http.client.HTTPConnection,
    url: str,
    policy: FetchPolicy,
    deadline: float,
) -> bytes:
    chunks: list[bytes] = []
    received = 0
    while True:
        if connection.sock is not None:
            connection.sock.settimeout(_remaining(deadline, url, policy.total_seconds))
        try:
            chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, TimeoutError) or time.monotonic() > deadline:
                raise UrlRefused(f"{url} did not finish within {policy.total_seconds:g} s.") from exc
            raise UrlRefused(f"{url} broke off while downloading ({type(exc).__name__}).") from exc
        if not chunk:
            return b"".join(chunks)
        received += len(chunk)
        if received > policy.max_bytes:
            raise UrlRefused(f"{url} grew past the {policy.max_bytes:,}-byte limit while downloading; stopped.")
        chunks.append(chunk)


def _remaining(deadline: float, url: str, total: float = TOTAL_SECONDS) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise UrlRefused(f"{url} did not finish within {total:g} s.")
    return left


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://")) or "://" in source[:12]
