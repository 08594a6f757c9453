"""The index on disk: FAISS vectors, JSON units and a manifest, swapped in atomically.

Layout of INDEX_DIR:
    CURRENT                 name of the live build (replaced atomically with os.replace)
    builds/<build-id>/      manifest.json, vectors.faiss, units.json
    sources/                copies of uploaded documents, so a build can always be redone
A build is written to builds/<id>.tmp, fsynced, renamed, and only then named in CURRENT, so a
crash at any step leaves the previous complete index live. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .documents import Document, DocumentMeta, Paragraph, Sentence
from .errors import DiskFull, IndexCorrupt, IndexMismatch, IndexMissing
from .formats import DOCUMENT_EXTENSIONS
from .related import RelatedTerms, related_from_json, related_to_json

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
UNITS = "units.json"
CURRENT = "CURRENT"
SOURCES = "sources"
# Hash every file on load below this size; above it, sizes are checked and FAISS parses the file.
_HASH_ON_LOAD_LIMIT = 256 * 1024 * 1024


@dataclass(frozen=True)
class SourceRecord:
    """One indexed source: where it came from and what it hashed to."""

    name: str
    sha256: str
    bytes: int
    origin: str  # "configured" (a path in the settings) or "upload" (copied under sources/)
    path: str
    added_by: str | None = None  # who added it, as shown to the server's members
    added_at: str | None = None  # UTC, ISO 8601
    url: str | None = None  # fetched from this URL; /reindex fetches it again
    # "text" (pasted in a form) or "message" (a Discord message); None for a file or a web page.
    via: str | None = None
    title: str | None = None  # the title its adder gave it, over what the text suggests
    link: str | None = None  # where it can be seen (a message's jump link); never fetched

    @property
    def key(self) -> str:
        """A short stable id for the document, unique within its library."""
        return self.sha256[:12]


@dataclass(frozen=True)
class IndexManifest:
    """Everything needed to tell whether an index on disk fits the settings and its sources."""

    format_version: int
    model: str
    dimension: int
    index_type: str
    sources: tuple[SourceRecord, ...]
    counts: dict[str, int]
    built_at: str
    build_seconds: float
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    index_params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = [asdict(s) for s in self.sources]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexManifest:
        try:
            return cls(
                format_version=int(data["format_version"]),
                model=str(data["model"]),
                dimension=int(data["dimension"]),
                index_type=str(data["index_type"]),
                sources=tuple(SourceRecord(**s) for s in data["sources"]),
                counts={str(k): int(v) for k, v in data["counts"].items()},
                built_at=str(data["built_at"]),
                build_seconds=float(data.get("build_seconds", 0.0)),
                files=dict(data.get("files", {})),
                index_params=dict(data.get("index_params", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorrupt(f"The index manifest is malformed: {exc}") from exc


@dataclass(frozen=True)
class StoredIndex:
    """A loaded index: its manifest, documents, the flat list of units and the FAISS index."""

    manifest: IndexManifest
    documents: tuple[Document, ...]
    sentences: tuple[Sentence, ...]
    unit_documents: tuple[int, ...]  # document index of each sentence, by sentence id
    vectors: Any  # faiss.Index
    path: Path
    # Each word stem of the library with the stems of its related words (see related.py).
    related: RelatedTerms = field(default_factory=dict)

    def document_of(self, sentence_id: int) -> Document:
        return self.documents[self.unit_documents[sentence_id]]

    def document_key(self, number: int) -> str:
        """The key (see SourceRecord.key) of document number `number`."""
        sources = self.manifest.sources
        return sources[number].key if number < len(sources) else ""

    def document_number(self, key: str) -> int | None:
        """The number of the document with this key, if the library holds it."""
        for number, source in enumerate(self.manifest.sources[: len(self.documents)]):
            if source.key == key:
                return number
        return None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def keep_upload(index_dir: Path, name: str, data: bytes) -> Path:
    """Keep an uploaded document under sources/ so the index can be rebuilt from it later.

    The file is named by its hash: an uploaded name never chooses a path.
    """
    sources = index_dir / SOURCES
    sources.mkdir(parents=True, exist_ok=True)
    suffix = Path(name).suffix.lower()
    if suffix not in DOCUMENT_EXTENSIONS:
        suffix = ".txt"
    target = sources / f"{sha256_bytes(data)}{suffix}"
    if not target.exists():
        write_file_atomically(target, data)
    return target


# Test hook: called with the name of each step of a write, so a test can interrupt it anywhere.
WriteStep = Callable[[str], None]


@dataclass(frozen=True)
class NewVersion:
    """A built index, not yet published: what `write_index` (or another store) makes current."""

    documents: list[Document]
    vectors: Any  # faiss.Index
    model: str
    dimension: int
    index_type: str
    index_params: dict[str, Any]
    sources: list[SourceRecord]
    build_seconds: float
    related: RelatedTerms = field(default_factory=dict)


def write_index(index_dir: Path, version: NewVersion, *, on_step: WriteStep | None = None) -> StoredIndex:
    """Write a complete new build and make it live atomically; returns it, as held in memory.

    A failure at any step removes what this build wrote and leaves the live build as it was; a
    full disk is reported as DiskFull."""
    import faiss

    step = on_step or (lambda _name: None)
    documents, vectors, related = version.documents, version.vectors, version.related
    builds = index_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    build_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    tmp = builds / f"{build_id}.tmp"
    final = builds / build_id
    try:
        tmp.mkdir()
        step("start")

        units = {**documents_to_json(documents), "related": related_to_json(related)}
        units_bytes = json.dumps(units, ensure_ascii=False).encode("utf-8")
        write_file_atomically(tmp / UNITS, units_bytes)
        step("units")
        faiss.write_index(vectors, str(tmp / VECTORS))
        _fsync_path(tmp / VECTORS)
        step("vectors")

        files = {
            name: {"sha256": sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size} for name in (UNITS, VECTORS)
        }
        sentence_count = sum(len(d.sentences) for d in documents)
        manifest = IndexManifest(
            format_version=FORMAT_VERSION,
            model=version.model,
            dimension=version.dimension,
            index_type=version.index_type,
            sources=tuple(version.sources),
            counts={
                "documents": len(documents),
                "paragraphs": sum(len(d.paragraphs) for d in documents),
                "body_paragraphs": sum(d.body_paragraph_count for d in documents),
                "sentences": sentence_count,
                "vectors": int(vectors.ntotal),
                "related_terms": len(related),
            },
            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            build_seconds=round(version.build_seconds, 3),
            files=files,
            index_params=version.index_params,
        )
        write_file_atomically(tmp / MANIFEST, json.dumps(manifest.to_json(), indent=2).encode("utf-8"))
        step("manifest")
        os.rename(tmp, final)
        _fsync_path(builds)
        step("renamed")
        write_file_atomically(index_dir / CURRENT, build_id.encode("ascii"))
        step("current")
        _remove_stale_builds(index_dir, keep=build_id)
        step("cleaned")
    except BaseException as exc:
        # What this build wrote goes, unless it already became the live build.
        if _live_build_name(index_dir) != build_id:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
        if is_disk_full(exc):
            raise DiskFull(
                "No space left on the disk that holds the index; nothing was changed. Free some space and try again."
            ) from exc
        raise
    return _assemble(manifest, documents, vectors, final, related)


def _live_build_name(index_dir: Path) -> str | None:
    try:
        return (index_dir / CURRENT).read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error means the disk is full (an OSError, or FAISS's own write error)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, RuntimeError) and "No space left" in str(exc)


def current_build(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT
    if not pointer.exists():
        raise IndexMissing(f"No index has been built in {index_dir} yet.")
    name = pointer.read_text("ascii", errors="replace").strip()
    if not name or "/" in name or name.startswith(".") or name.endswith(".tmp"):
        raise IndexCorrupt(f"{pointer} does not name a build.")
    path = index_dir / "builds" / name
    if not path.is_dir():
        raise IndexCorrupt(f"{pointer} names build {name!r}, which is missing.")
    return path


def read_manifest(index_dir: Path) -> IndexManifest:
    path = current_build(index_dir) / MANIFEST
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"The index manifest {path} is missing.") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"The index manifest {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise IndexCorrupt(f"The index manifest {path} is not a JSON object.")
    manifest = IndexManifest.from_json(data)
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatch(
            f"The index was written in format {manifest.format_version}; this citebot reads {FORMAT_VERSION}."
        )
    return manifest


def load_index(
    index_dir: Path, *, expected_model: str | None = None, expected_dimension: int | None = None
) -> StoredIndex:
    """Load and verify the live build; raise IndexMissing, IndexMismatch or IndexCorrupt."""
    import faiss

    build = current_build(index_dir)
    manifest = read_manifest(index_dir)
    if expected_model is not None and manifest.model != expected_model:
        raise IndexMismatch(f"The index was built with model {manifest.model!r}, but {expected_model!r} is configured.")
    if expected_dimension is not None and manifest.dimension != expected_dimension:
        raise IndexMismatch(f"The index has dimension {manifest.dimension}, the model gives {expected_dimension}.")
    _verify_files(build, manifest)
    try:
        units = json.loads((build / UNITS).read_text("utf-8"))
        documents = documents_from_json(units)
        related = related_from_json(units.get("related", {}))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise IndexCorrupt(f"The index units file is damaged: {exc}") from exc
    try:
        vectors = faiss.read_index(str(build / VECTORS))
    except RuntimeError as exc:
        raise IndexCorrupt(f"The FAISS index file is damaged: {exc}") from exc
    return _assemble(manifest, documents, vectors, build, related)


def _assemble(
    manifest: IndexManifest, documents: list[Document], vectors: Any, build: Path, related: RelatedTerms
) -> StoredIndex:
    """Join documents and vectors into a StoredIndex, checking that they belong together."""
    sentences: list[Sentence] = []
    owners: list[int] = []
    for doc_index, doc in enumerate(documents):
        sentences.extend(doc.sentences)
        owners.extend([doc_index] * len(doc.sentences))
    if vectors.ntotal != len(sentences) or vectors.d != manifest.dimension:
        raise IndexCorrupt(
            f"The FAISS index holds {vectors.ntotal} vectors of dimension {vectors.d}; "
            f"the manifest expects {len(sentences)} of dimension {manifest.dimension}."
        )
    if any(s.id != i for i, s in enumerate(sentences)):
        raise IndexCorrupt("The index units are out of order.")
    return StoredIndex(manifest, tuple(documents), tuple(sentences), tuple(owners), vectors, build, related)


def _verify_files(build: Path, manifest: IndexManifest) -> None:
    for name in (UNITS, VECTORS):
        path = build / name
        expected = manifest.files.get(name)
        if expected is None:
            raise IndexCorrupt(f"The manifest does not list {name}.")
        if not path.exists():
            raise IndexCorrupt(f"The index file {name} is missing.")
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise IndexCorrupt(
                f"The index file {name} is {size} bytes; the manifest says {expected.get('bytes')} (truncated?)."
            )
        if size <= _HASH_ON_LOAD_LIMIT and sha256_file(path) != expected.get("sha256"):
            raise IndexCorrupt(f"The index file {name} does not match its hash in the manifest.")


def documents_to_json(documents: list[Document]) -> dict[str, Any]:
    """Documents as plain JSON: metadata, paragraphs and sentences (nothing pickled)."""
    return {
        "documents": [
            {
                "meta": doc.meta.to_json(),
                # A paged document's paragraphs carry their page as a fourth item.
                "paragraphs": [
                    [p.part, p.number, p.text] if p.page is None else [p.part, p.number, p.text, p.page]
                    for p in doc.paragraphs
                ],
                "sentences": [[s.id, s.paragraph_index, s.part, s.paragraph, s.text] for s in doc.sentences],
            }
            for doc in documents
        ]
    }


def documents_from_json(units: dict[str, Any]) -> list[Document]:
    documents = []
    for doc in units["documents"]:
        meta = DocumentMeta(**doc["meta"])
        paragraphs = tuple(
            Paragraph(str(p[0]), int(p[1]), str(p[2]), int(p[3]) if len(p) > 3 else None) for p in doc["paragraphs"]
        )
        sentences = tuple(
            Sentence(int(i), int(pi), str(part), int(n), str(text)) for i, pi, part, n, text in doc["sentences"]
        )
        documents.append(Document(meta, paragraphs, sentences))
    return documents


def remove_unfinished_builds(index_dir: Path) -> None:
    """Remove builds that never became live (a failed or killed build); the caller holds the lock."""
    live = _live_build_name(index_dir)
    builds = index_dir / "builds"
    for entry in builds.iterdir() if builds.is_dir() else ():
        if entry.name != live:
            shutil.rmtree(entry, ignore_errors=True)


def remove_unused_sources(index_dir: Path, live_paths: set[str]) -> None:
    """Delete kept uploads that the live build no longer names (superseded or removed documents)."""
    sources = index_dir / SOURCES
    if not sources.is_dir():
        return
    for entry in sources.iterdir():
        if str(entry.resolve()) not in live_paths:
            with contextlib.suppress(OSError):
                entry.unlink()


def write_file_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_path(path.parent)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_builds(index_dir: Path, keep: str) -> None:
    """Delete superseded and half-written builds; the live one is never touched."""
    for entry in (index_dir / "builds").iterdir():
        if entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)
    for leftover in index_dir.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()
