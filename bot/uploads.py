"""Checks on /reindex uploads: declared size and extension first, then a capped download."""

from __future__ import annotations

from pathlib import PurePath

import aiohttp

from citebot.index.errors import DocumentRejected
from citebot.index.formats import ACCEPTED_FILES, DOCUMENT_EXTENSIONS, OLD_WORD


def is_document_name(filename: str) -> bool:
    """Whether a file's name says it is a kind of document citebot reads."""
    return PurePath(filename).suffix.lower() in DOCUMENT_EXTENSIONS


def check_declared(filename: str, size: int, limit: int) -> None:
    """Refuse by name and declared size before a single byte is downloaded."""
    if PurePath(filename).suffix.lower() == ".doc":
        raise DocumentRejected(OLD_WORD)
    if not is_document_name(filename):
        raise DocumentRejected(f"“{filename}” is not a {ACCEPTED_FILES} file.")
    if size > limit:
        raise DocumentRejected(f"“{filename}” is {size:,} bytes; the limit is {limit:,}.")
    if size == 0:
        raise DocumentRejected(f"“{filename}” is empty.")


async def download_capped(session: aiohttp.ClientSession, url: str, limit: int, *, timeout: float = 30.0) -> bytes:
    """Fetch an attachment, stopping as soon as it grows past `limit` bytes."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with session.get(url, timeout=client_timeout) as response:
            if response.status != 200:
                raise DocumentRejected(f"The upload could not be downloaded (HTTP {response.status}).")
            if response.content_length is not None and response.content_length > limit:
                raise DocumentRejected(
                    f"The upload is {response.content_length:,} bytes, over the {limit:,}-byte limit."
                )
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += len(chunk)
                if received > limit:
                    raise DocumentRejected(f"The upload grew past the {limit:,}-byte limit while downloading; stopped.")
                chunks.append(chunk)
            return b"".join(chunks)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DocumentRejected(f"The upload could not be downloaded: {exc.__class__.__name__}.") from exc
