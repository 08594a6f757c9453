"""What a library holds, as members see it in /about, /docs list and the terminal."""

from __future__ import annotations

from dataclasses import dataclass

from .documents import Document, DocumentMeta
from .library_store import DEFAULT_KEY
from .store import IndexManifest, SourceRecord, StoredIndex


@dataclass(frozen=True)
class DocumentInfo:
    """One document of a library as members see it in /docs list and autocomplete."""

    key: str
    title: str
    author: str | None
    date: str | None
    paragraphs: int
    sentences: int
    name: str
    origin: str
    added_by: str | None
    added_at: str | None
    url: str | None = None
    via: str | None = None  # "text" or "message" (see SourceRecord)
    link: str | None = None


@dataclass(frozen=True)
class LibraryInfo:
    """What a library holds, read-only, for /about, /docs list and the CLI."""

    is_default: bool
    documents: tuple[DocumentInfo, ...]
    paragraphs: int
    sentences: int
    model: str
    built_at: str
    index_type: str

    @property
    def titles(self) -> tuple[str, ...]:
        return tuple(d.title for d in self.documents)


def describe(key: str, stored: StoredIndex) -> LibraryInfo:
    manifest: IndexManifest = stored.manifest
    documents = tuple(
        _document_info(document, record)
        for document, record in zip(stored.documents, _records_for(manifest, len(stored.documents)), strict=True)
    )
    return LibraryInfo(
        is_default=key == DEFAULT_KEY,
        documents=documents,
        paragraphs=manifest.counts.get("body_paragraphs", 0),
        sentences=manifest.counts.get("sentences", 0),
        model=manifest.model,
        built_at=manifest.built_at,
        index_type=manifest.index_type,
    )


def _records_for(manifest: IndexManifest, count: int) -> list[SourceRecord | None]:
    records: list[SourceRecord | None] = list(manifest.sources)
    return (records + [None] * count)[:count]


def _document_info(document: Document, record: SourceRecord | None) -> DocumentInfo:
    meta: DocumentMeta = document.meta
    return DocumentInfo(
        key=record.key if record else "",
        title=meta.title,
        author=meta.author,
        date=meta.date,
        paragraphs=document.body_paragraph_count,
        sentences=len(document.sentences),
        name=record.name if record else meta.source_name,
        origin=record.origin if record else "configured",
        added_by=record.added_by if record else None,
        added_at=record.added_at if record else None,
        url=record.url if record else None,
        via=record.via if record else None,
        link=record.link if record else None,
    )
