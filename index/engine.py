"""The engine's one face: build an index from documents, and answer questions from it."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .answer import (
    Answer,
    AnswerPolicy,
    abstain,
    compose,
    compose_metadata,
    metadata_part,
)
from .documents import Document, Paragraph, Sentence
from .embed import (
    DEFAULT_MODEL,
    Embedder,
    SentenceTransformerEmbedder,
    canonical_model_id,
)
from .errors import (
    CitebotError,
    DocumentRejected,
    IndexCorrupt,
    IndexMismatch,
    IndexMissing,
    QuestionRejected,
)
from .ingest import load_document, split_paragraph
from .retrieve import Retriever
from .store import (
    IndexManifest,
    SourceRecord,
    StoredIndex,
    WriteStep,
    build_lock,
    keep_upload,
    load_index,
    read_manifest,
    sha256_bytes,
    write_index,
)
from .vectors import build_vector_index

log = logging.getLogger("citebot.engine")

# progress(stage, done, total): stages are "parsing", "embedding", "writing", "done".
BuildProgress = Callable[[str, int, int], None]

MAX_QUESTION_CHARS = 1000
_SPLIT_CHUNK = 256
_PARALLEL_SPLIT_FROM = 1000  # paragraphs; below this a process pool costs more than it saves


@dataclass(frozen=True)
class EngineConfig:
    """What the engine needs from the settings."""

    index_dir: Path
    corpus_paths: tuple[Path, ...]
    model: str = DEFAULT_MODEL
    policy: AnswerPolicy = field(default_factory=AnswerPolicy)
    approximate_from: int = 50_000
    max_document_bytes: int = 2_000_000
    batch_size: int = 64
    # "auto": answer with the ONNX export when one exists (made at index time), else the model.
    query_encoder: str = "auto"


@dataclass(frozen=True)
class _Live:
    stored: StoredIndex
    retriever: Retriever


@dataclass(frozen=True)
class BuildReport:
    """What a finished build produced, for the CLI and /reindex summaries."""

    manifest: IndexManifest
    title: str
    seconds: float
    stored: StoredIndex


class Engine:
    """Owns the embedder and the live index; safe to call from worker threads."""

    def __init__(self, config: EngineConfig, embedder: Embedder | None = None) -> None:
        self.config = config
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(config.model)
        self._query_embedder: Embedder | None = None
        self._live: _Live | None = None
        self._load_lock = threading.Lock()

    @property
    def query_embedder(self) -> Embedder:
        """What embeds questions: the ONNX export if there is one, else the build model."""
        if self._query_embedder is None:
            self._query_embedder = self._onnx_embedder() or self.embedder
        return self._query_embedder

    def _onnx_embedder(self) -> Embedder | None:
        if self.config.query_encoder == "sentence-transformers" or not isinstance(self.embedder, SentenceTransformerEmbedder):
            return None
        from .onnx_encoder import load_onnx_embedder

        return load_onnx_embedder(self.config.index_dir, canonical_model_id(self.config.model))

    def _export_query_encoder(self) -> None:
        if self.config.query_encoder == "sentence-transformers" or not isinstance(self.embedder, SentenceTransformerEmbedder):
            return
        from .onnx_encoder import export_onnx

        with self.embedder.exclusive() as model:
            exported = export_onnx(model, canonical_model_id(self.config.model), self.config.index_dir)
        if exported is not None and self._query_embedder is self.embedder:
            self._query_embedder = None  # the next question picks up the export

    # ---- loading -------------------------------------------------------------------------
    @property
    def loaded(self) -> StoredIndex | None:
        live = self._live
        return live.stored if live else None

    def ensure_ready(self, progress: BuildProgress | None = None) -> StoredIndex:
        """Load the index, or rebuild it from its sources when it is missing, stale or damaged."""
        with self._load_lock:
            if self._live is not None:
                return self._live.stored
            try:
                stored = self._load_checked()
            except (IndexMissing, IndexMismatch, IndexCorrupt) as problem:
                if isinstance(problem, IndexMissing):
                    log.debug("%s Building it now.", problem)
                else:
                    log.warning("Index unusable (%s); rebuilding from its sources.", problem)
                return self._rebuild_after(problem, progress)  # the build makes its index live
            self._live = _Live(stored, Retriever(stored))
            return stored

    def _load_checked(self) -> StoredIndex:
        stored = load_index(self.config.index_dir, expected_model=canonical_model_id(self.config.model))
        stale = self._stale_reason(stored.manifest)
        if stale:
            raise IndexMismatch(stale)
        return stored

    def _stale_reason(self, manifest: IndexManifest) -> str | None:
        sources = manifest.sources
        if sources and all(s.origin == "upload" for s in sources):
            return None  # an admin's upload stays live until the next reindex
        configured = {str(p.resolve()) for p in self.config.corpus_paths}
        recorded = {s.path for s in sources}
        if configured != recorded:
            return "the configured corpus differs from the indexed one"
        for source in sources:
            path = Path(source.path)
            if path.exists() and sha256_bytes(path.read_bytes()) != source.sha256:
                return f"{source.name} changed since it was indexed"
        return None

    def _rebuild_after(self, problem: CitebotError, progress: BuildProgress | None) -> StoredIndex:
        uploads = self._recorded_uploads()
        if uploads:
            paths, origin = uploads, "upload"
        else:
            paths, origin = list(self.config.corpus_paths), "configured"
        missing = [p for p in paths if not p.exists()]
        if missing or not paths:
            raise IndexMissing(
                f"The index cannot be used ({problem}) and its source is gone: "
                + ", ".join(str(p) for p in missing or ["no corpus configured"])
            ) from problem
        return self._build(paths, origin=origin, progress=progress).stored

    def _recorded_uploads(self) -> list[Path]:
        try:
            manifest = read_manifest(self.config.index_dir)
        except CitebotError:
            return []
        if manifest.sources and all(s.origin == "upload" for s in manifest.sources):
            return [Path(s.path) for s in manifest.sources]
        return []

    # ---- building ------------------------------------------------------------------------
    def build_from_paths(self, paths: list[Path] | None = None, progress: BuildProgress | None = None,
                         on_step: WriteStep | None = None) -> BuildReport:
        """Rebuild from files on disk (the configured corpus by default) and make it live."""
        chosen = list(paths) if paths else list(self.config.corpus_paths)
        if not paths or self._same_as_configured(chosen):
            return self._build(chosen, origin="configured", progress=progress, on_step=on_step)
        # Other paths are copied in, so the index never depends on files that may move.
        kept = [keep_upload(self.config.index_dir, p.name, self._read_capped(p)) for p in chosen]
        return self._build(kept, origin="upload", progress=progress, on_step=on_step,
                           display_names=[p.name for p in chosen])

    def build_from_upload(self, name: str, data: bytes, progress: BuildProgress | None = None,
                          on_step: WriteStep | None = None) -> BuildReport:
        """Replace the corpus with one uploaded document: validated first, kept, then indexed."""
        if len(data) > self.config.max_document_bytes:
            raise DocumentRejected(f"The file is {len(data):,} bytes; the limit is {self.config.max_document_bytes:,}.")
        load_document(name, data, split=False)  # refuse a bad file before anything is written
        kept = keep_upload(self.config.index_dir, name, data)
        return self._build([kept], origin="upload", progress=progress, on_step=on_step, display_names=[name])

    def _same_as_configured(self, paths: list[Path]) -> bool:
        return {p.resolve() for p in paths} == {p.resolve() for p in self.config.corpus_paths}

    def _read_capped(self, path: Path) -> bytes:
        if not path.is_file():
            raise DocumentRejected(f"{path} is not a file.")
        size = path.stat().st_size
        if size > self.config.max_document_bytes:
            raise DocumentRejected(f"{path.name} is {size:,} bytes; the limit is {self.config.max_document_bytes:,}.")
        return path.read_bytes()

    def _build(self, paths: list[Path], *, origin: str, progress: BuildProgress | None = None,
               on_step: WriteStep | None = None, display_names: list[str] | None = None) -> BuildReport:
        report = progress or (lambda _stage, _done, _total: None)
        started = time.perf_counter()
        with build_lock(self.config.index_dir):
            report("parsing", 0, len(paths))
            skeletons: list[Document] = []
            sources: list[SourceRecord] = []
            for number, path in enumerate(paths):
                data = self._read_capped(path)
                name = display_names[number] if display_names else path.name
                skeletons.append(load_document(name, data, split=False))
                sources.append(SourceRecord(name, sha256_bytes(data), len(data), origin, str(path.resolve())))
                report("parsing", number + 1, len(paths))
            documents, matrix = self._split_and_embed(skeletons, report)
            report("writing", 0, 1)
            self._export_query_encoder()
            vectors, kind, params = build_vector_index(matrix, approximate_from=self.config.approximate_from)
            # What was just written is already in memory; reading it back would double the I/O.
            stored = write_index(
                self.config.index_dir, documents=documents, vectors=vectors,
                model=canonical_model_id(self.config.model), dimension=int(matrix.shape[1]),
                index_type=kind, index_params=params, sources=sources,
                build_seconds=time.perf_counter() - started, on_step=on_step,
            )
            self._live = _Live(stored, Retriever(stored))  # one assignment: readers see old or new
            report("writing", 1, 1)
        seconds = time.perf_counter() - started
        report("done", 1, 1)
        return BuildReport(stored.manifest, documents[0].meta.title if documents else "", seconds, stored)

    def _split_and_embed(self, skeletons: list[Document], report: BuildProgress) -> tuple[list[Document], np.ndarray]:
        """Split every paragraph into sentences, then embed them all in one pass.

        Splitting is pure Python; on large corpora it runs in worker processes (one per core) so
        it neither holds the GIL nor competes with the model for long.
        """
        work = [(d, i, p) for d, doc in enumerate(skeletons) for i, p in enumerate(doc.paragraphs)]
        chunks = [work[k : k + _SPLIT_CHUNK] for k in range(0, len(work), _SPLIT_CHUNK)]
        if len(work) >= _PARALLEL_SPLIT_FROM and (os.cpu_count() or 1) > 1:
            context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
            with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1), mp_context=context) as pool:
                split = [pair for part in pool.map(_split_chunk, chunks) for pair in part]
        else:
            split = [pair for chunk in chunks for pair in _split_chunk(chunk)]
        sentences: list[list[Sentence]] = [[] for _ in skeletons]
        for d, sentence in split:
            sentences[d].append(sentence)
        next_id = 0
        documents = []
        for doc, own in zip(skeletons, sentences):
            numbered = tuple(dataclasses.replace(s, id=next_id + n) for n, s in enumerate(own))
            next_id += len(numbered)
            documents.append(Document(doc.meta, doc.paragraphs, numbered, doc.dropped_lines))
        texts = [s.text for _, s in split]
        if not texts:
            raise DocumentRejected("No article text is left after removing page furniture.")
        report("embedding", 0, len(texts))
        matrix = self.embedder.encode(
            texts, batch_size=self.config.batch_size, progress=lambda done, total: report("embedding", done, total)
        )
        return documents, matrix

    # ---- answering -----------------------------------------------------------------------
    def answer(self, question: str) -> Answer:
        """Answer one question with verbatim citations, or abstain."""
        started = time.perf_counter()
        question = clean_question(question)
        self.ensure_ready()
        live = self._live
        assert live is not None
        part = metadata_part(question)
        if part is not None:
            for document in live.stored.documents:
                meta_answer = compose_metadata(question, part, document)
                if meta_answer is not None:
                    return _timed(meta_answer, {"total": _ms(started)})
        t0 = time.perf_counter()
        vector = self.query_embedder.encode([question])[0]
        t1 = time.perf_counter()
        retrieval = live.retriever.retrieve(question, vector)
        t2 = time.perf_counter()
        if not retrieval.query_stems and (retrieval.best is None or retrieval.best.dense < 0.5):
            result = abstain(question, live.stored.documents[0].meta if live.stored.documents else None, 0.0)
        else:
            result = compose(question, retrieval, live.stored.sentences, live.stored.document_of, self.config.policy)
        return _timed(result, {"embed": (t1 - t0) * 1000, "search": (t2 - t1) * 1000, "total": _ms(started)})


def clean_question(question: str) -> str:
    """Strip control and zero-width characters and cap the length; refuse an empty question."""
    kept = "".join(ch for ch in question if unicodedata.category(ch) not in ("Cc", "Cf") or ch in "\n\t")
    text = " ".join(kept.split())[:MAX_QUESTION_CHARS]
    if not any(ch.isalnum() for ch in text):
        raise QuestionRejected("Ask a question in words, for example: why did relations rupture?")
    return text


def _split_chunk(chunk: list[tuple[int, int, Paragraph]]) -> list[tuple[int, Sentence]]:
    return [(d, sentence) for d, index, paragraph in chunk for sentence in split_paragraph(paragraph, index)]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _timed(answer: Answer, timing: dict[str, float]) -> Answer:
    return dataclasses.replace(answer, timing_ms=timing)

