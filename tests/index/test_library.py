"""A library's life without Discord, on the deterministic embedder: add, remove, replace, rebuild,
stale and self-healing; one library per server and the default elsewhere; what a refused or failed
change leaves behind (nothing)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from citebot.index import store as store_module
from citebot.index.build import EmbeddingCache
from citebot.index.departures import DAY, Departures, FileDepartures, PostgresDepartures
from citebot.index.documents import Document
from citebot.index.engine import Engine
from citebot.index.errors import (
    BuildInProgress,
    BuildTimedOut,
    DiskFull,
    DocumentRejected,
    LibraryFull,
    UnknownDocument,
)
from citebot.index.file_store import FileLibraryStore
from citebot.index.library import NewDocument
from citebot.index.library_store import DEFAULT_KEY, library_key
from citebot.index.related import vocabulary
from citebot.index.store import SOURCES, UNITS, current_build, sha256_bytes

from ..conftest import engine_config
from ..fakes import HashingEmbedder

HARBOUR = b"Harbour Vote\n\nBy Ann Author\n\nThe council of Harbour Town voted to lease its disused docks.\n"
BAKERY = b"Bakery Opens\n\nA new bakery on Main Street sells rye bread and cardamom buns every morning.\n"
LIBRARY = b"Library Hours\n\nThe town library now opens at nine and closes at eight on weekdays.\n"
SERVER, OTHER = 11, 22


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())


def encoded(engine: Engine) -> int:
    embedder = engine.embedder
    assert isinstance(embedder, HashingEmbedder)
    return embedder.encoded_texts


def new_words(documents: tuple[Document, ...]) -> int:
    """How many words the last document brings that the ones before it lack (each is embedded once)."""
    known = set(vocabulary(s.text for d in documents[:-1] for s in d.sentences).values())
    added = set(vocabulary(s.text for s in documents[-1].sentences).values()) - known
    assert added
    return len(added)


def test_a_server_without_documents_answers_from_the_default_library(engine: Engine) -> None:
    assert engine.answering(SERVER).describe().is_default
    assert "ruptured in 2018" in engine.answering(SERVER).answer("why did relations rupture?").answer


def test_adding_a_document_embeds_only_that_document(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)], added_by="ann")
    engine.library(SERVER).add([NewDocument("bakery.txt", BAKERY)], added_by="ann")
    before = encoded(engine)
    report = engine.library(SERVER).add([NewDocument("library.txt", LIBRARY)], added_by="bob")
    library_sentences = len(report.stored.documents[-1].sentences)
    # Besides its sentences, only the words the library did not have yet are embedded (related terms).
    assert encoded(engine) - before == library_sentences + new_words(report.stored.documents)
    assert report.embedded_sentences == library_sentences
    assert report.titles == ("Harbour Vote", "Bakery Opens", "Library Hours")
    summary = engine.answering(SERVER).describe()
    assert [d.added_by for d in summary.documents] == ["ann", "ann", "bob"]
    assert [d.name for d in summary.documents] == ["harbour.txt", "bakery.txt", "library.txt"]
    assert "cardamom" in engine.answering(SERVER).answer("what does the bakery sell?").answer
    # The other server and the default library are untouched.
    assert engine.answering(OTHER).describe().is_default and engine.default.describe().is_default


def test_removing_documents_rebuilds_without_them_and_the_last_brings_the_default_back(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    engine.library(SERVER).add([NewDocument("bakery.txt", BAKERY)])
    keys = {d.title: d.key for d in engine.answering(SERVER).describe().documents}
    before = encoded(engine)
    report = engine.library(SERVER).remove(keys["Harbour Vote"])
    assert report is not None and report.titles == ("Bakery Opens",) and encoded(engine) == before
    kept = list((FileLibraryStore(engine.config.index_dir).directory(library_key(SERVER)) / SOURCES).iterdir())
    assert len(kept) == 1  # the removed document's upload is gone from disk
    assert engine.library(SERVER).remove(keys["Bakery Opens"]) is None
    assert not engine.library(SERVER).exists and engine.answering(SERVER).describe().is_default
    with pytest.raises(UnknownDocument):
        engine.library(SERVER).remove(keys["Bakery Opens"])


def test_limits_refuse_an_add_and_leave_the_library_as_it_was(tmp_path: Path) -> None:
    engine = Engine(engine_config(tmp_path / "index", max_documents_per_library=2), embedder=HashingEmbedder())
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    engine.library(SERVER).add([NewDocument("bakery.txt", BAKERY)])
    with pytest.raises(LibraryFull, match="at most 2 documents"):
        engine.library(SERVER).add([NewDocument("library.txt", LIBRARY)])
    assert engine.answering(SERVER).describe().titles == ("Harbour Vote", "Bakery Opens")
    small = Engine(engine_config(tmp_path / "small", max_library_bytes=150), embedder=HashingEmbedder())
    small.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    with pytest.raises(LibraryFull, match="the limit is 150"):
        small.library(SERVER).add([NewDocument("bakery.txt", BAKERY)])
    assert small.answering(SERVER).describe().titles == ("Harbour Vote",)


def test_the_same_document_twice_is_refused(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    with pytest.raises(DocumentRejected, match="already in this library"):
        engine.library(SERVER).add([NewDocument("copy.txt", HARBOUR)])


def test_answers_can_be_limited_to_one_document(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    engine.library(SERVER).add([NewDocument("bakery.txt", BAKERY)])
    keys = {d.title: d.key for d in engine.answering(SERVER).describe().documents}
    answer = engine.answering(SERVER).answer("docks harbour council", document=keys["Bakery Opens"])
    assert all(c.document == "Bakery Opens" for c in answer.citations)
    with pytest.raises(UnknownDocument):
        engine.answering(SERVER).answer("docks", document="nope")


def test_who_wrote_it_names_the_document_asked_about_or_each(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    engine.library(SERVER).add([NewDocument("bakery.txt", BAKERY.replace(b"\n\nA new", b"\n\nBy Ada Crumb\n\nA new"))])
    about_bakery = engine.answering(SERVER).answer("who wrote the bakery article?")
    assert [c.text for c in about_bakery.citations] == ["By Ada Crumb"]
    each = engine.answering(SERVER).answer("who wrote it?")
    assert [(c.document, c.text) for c in each.citations] == [
        ("Harbour Vote", "By Ann Author"),
        ("Bakery Opens", "By Ada Crumb"),
    ]


def test_loaded_libraries_are_dropped_least_recently_used_first(tmp_path: Path) -> None:
    engine = Engine(engine_config(tmp_path / "index", max_loaded_libraries=2), embedder=HashingEmbedder())
    for server in (1, 2, 3):
        engine.library(server).add([NewDocument("harbour.txt", HARBOUR)])
    engine.default.answer("who voted?")  # the default library is never dropped
    assert DEFAULT_KEY in engine.libraries.loaded_keys() and len(engine.libraries) == 2
    assert "docks" in engine.answering(1).answer("what did the council lease?").answer  # loads again from disk
    assert library_key(1) in engine.libraries.loaded_keys()


def test_an_index_folder_from_before_libraries_is_the_default_library(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    old = Engine(engine_config(index_dir), embedder=HashingEmbedder())
    old.default.replace([NewDocument("harbour.txt", HARBOUR)])  # 0.1's /reindex wrote the one index at INDEX_DIR
    new = Engine(engine_config(index_dir), embedder=HashingEmbedder())
    assert new.answering(SERVER).describe().titles == ("Harbour Vote",) and new.default.describe().is_default
    assert encoded(new) == 0  # loaded as it was: nothing was rebuilt


def test_a_new_process_reuses_the_embedding_cache(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    fresh = Engine(engine.config, embedder=HashingEmbedder())
    report = fresh.library(SERVER).add([NewDocument("bakery.txt", BAKERY)])
    assert report.embedded_sentences == len(report.stored.documents[1].sentences)
    assert encoded(fresh) == report.embedded_sentences + new_words(report.stored.documents)


def test_a_damaged_cache_entry_is_treated_as_absent(tmp_path: Path) -> None:
    from citebot.index.ingest import load_document

    cache = EmbeddingCache(tmp_path / "embeddings", "test/model")
    document = load_document("harbour.txt", HARBOUR)
    vectors = HashingEmbedder().encode([s.text for s in document.sentences])
    cache.put("abc", document, vectors)
    hit = cache.get("abc")
    assert hit is not None and hit[0].sentences == document.sentences and (hit[1] == vectors).all()
    assert EmbeddingCache(tmp_path / "embeddings", "other/model").get("abc") is None  # keyed by model
    for path in (tmp_path / "embeddings").rglob("*.npy"):
        path.write_bytes(b"not numpy")
    assert cache.get("abc") is None


@pytest.fixture(params=("files", "postgres"))
def departures(request: pytest.FixtureRequest, tmp_path: Path) -> Departures:
    if request.param == "postgres":
        from citebot.index.postgres_store import PostgresLibraryStore

        dsn = request.getfixturevalue("postgres_dsn")
        PostgresLibraryStore(dsn, tmp_path).upgrade()
        return PostgresDepartures(dsn)
    return FileDepartures(tmp_path)


def test_departures_come_due_after_the_retention_period(departures: Departures) -> None:
    departures.left(SERVER, at=1000.0)
    departures.left(OTHER, at=1000.0 + 20 * DAY)
    departures.left(SERVER, at=1000.0 + 25 * DAY)  # the first departure counts
    assert departures.due(30, now=1000.0 + 31 * DAY) == [SERVER]
    departures.returned(SERVER)
    assert departures.due(30, now=1000.0 + 60 * DAY) == [OTHER]
    assert departures.due(0, now=1000.0 + 20 * DAY) == [OTHER]
    departures.forget(OTHER)
    assert departures.due(0) == []


def test_a_library_summary_quotes_each_document_and_one_document_can_be_asked_for(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    engine.library(SERVER).add([NewDocument("bakery.txt", BAKERY)])
    both = engine.answering(SERVER).summarise()
    assert both.summary and {c.document for c in both.citations} == {"Harbour Vote", "Bakery Opens"}
    bakery = next(d for d in engine.answering(SERVER).describe().documents if d.title == "Bakery Opens")
    one = engine.answering(SERVER).summarise(document=bakery.key)
    assert [c.text for c in one.citations] == [
        "A new bakery on Main Street sells rye bread and cardamom buns every morning."
    ]
    assert engine.answering(SERVER).answer("tl;dr", document=bakery.key).citations == one.citations
    with pytest.raises(UnknownDocument):
        engine.answering(SERVER).summarise(document="0000")


# ---- what a refused or failed change leaves behind -------------------------------------------------
def leftovers(engine: Engine, server: int) -> list[str]:
    """Files of a library that its current version does not use: kept sources, cache entries, builds."""
    store = FileLibraryStore(engine.config.index_dir)
    key = library_key(server)
    directory = store.directory(key)
    if not store.exists(key):
        return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and p.name != ".lock")
    sources = store.manifest(key).sources
    used, digests = {s.path for s in sources}, {s.sha256 for s in sources}
    extra = [p.name for p in (directory / SOURCES).iterdir() if str(p.resolve()) not in used]
    cache = [p for p in (directory / "embeddings").rglob("*") if p.is_file() and p.name != "words.npz"]
    extra += [p.name for p in cache if p.name.split(".")[0] not in digests]
    live = current_build(directory).name
    extra += [p.name for p in (directory / "builds").iterdir() if p.name != live]
    return extra


def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next index write fail as a full disk does (after the new document is embedded)."""
    real_write = store_module.write_file_atomically

    def full(path: Path, data: bytes) -> None:
        if path.name == UNITS:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(store_module, "write_file_atomically", full)


REFUSALS = {
    "too many documents": ({"max_documents_per_library": 1}, BAKERY, LibraryFull),
    "too many bytes": ({"max_library_bytes": len(HARBOUR) + 20}, BAKERY, LibraryFull),
    "too large a file": ({"max_document_bytes": 50}, BAKERY, DocumentRejected),
    "a duplicate": ({}, HARBOUR, DocumentRejected),
    "unreadable content": ({}, b"\x00\x01\x02 not text", DocumentRejected),
    "past the time budget": ({"build_timeout_seconds": 1e-6}, BAKERY, BuildTimedOut),
    "a full disk": ({}, BAKERY, DiskFull),
}


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_a_refused_or_failed_change_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    overrides, document, error = REFUSALS[refusal]
    Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder()).library(SERVER).add(
        [NewDocument("harbour.txt", HARBOUR)]
    )
    engine = Engine(engine_config(tmp_path / "index", **overrides), embedder=HashingEmbedder())
    if refusal == "a full disk":
        disk_full(monkeypatch)
    for _ in range(3):  # again and again: nothing piles up
        with pytest.raises(error):
            engine.library(SERVER).add([NewDocument("new.txt", document)])
    assert leftovers(engine, SERVER) == []
    assert engine.answering(SERVER).describe().titles == ("Harbour Vote",)


def test_a_first_change_that_fails_leaves_no_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())
    disk_full(monkeypatch)
    with pytest.raises(DiskFull, match="nothing was changed"):
        engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    assert leftovers(engine, SERVER) == [] and not engine.library(SERVER).exists
    monkeypatch.undo()
    assert engine.answering(SERVER).describe().is_default


def test_a_change_refused_because_another_process_holds_the_library_leaves_its_upload(engine: Engine) -> None:
    """Another process (`citebot docs add` in a terminal) kept its upload and is building: the bot's
    refused change must not delete that upload while tidying up."""
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    key = library_key(SERVER)
    with engine.store.locked(key, "citebot docs add in a terminal"):
        theirs = engine.store.keep_source(key, "bakery.txt", BAKERY)
        with pytest.raises(BuildInProgress, match="citebot docs add in a terminal"):
            engine.library(SERVER).add([NewDocument("library.txt", LIBRARY)])
        with pytest.raises(BuildInProgress):
            engine.library(SERVER).remove(engine.answering(SERVER).describe().documents[0].key)
        assert theirs.exists()
    assert theirs.exists()  # held until its owner publishes or drops it
    assert not any(p.name.startswith(sha256_bytes(LIBRARY)) for p in theirs.parent.iterdir())  # ours: not kept


# ---- the rest of a library's life ------------------------------------------------------------------
def test_replacing_a_library_keeps_only_the_new_documents(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    report = engine.library(SERVER).replace([NewDocument("bakery.txt", BAKERY), NewDocument("library.txt", LIBRARY)])
    assert report.titles == ("Bakery Opens", "Library Hours")
    assert leftovers(engine, SERVER) == []  # the replaced document's upload went
    with pytest.raises(DocumentRejected, match="named twice"):
        engine.library(SERVER).replace([NewDocument("a.txt", BAKERY), NewDocument("b.txt", BAKERY)])


def test_a_rebuild_keeps_what_the_library_has_and_a_server_without_one_is_told(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    before = encoded(engine)
    report = engine.library(SERVER).rebuild()
    assert report.titles == ("Harbour Vote",) and report.changed == ()
    assert encoded(engine) == before  # from the embedding cache
    with pytest.raises(UnknownDocument, match="no documents of its own"):
        engine.library(OTHER).rebuild()


def test_a_damaged_server_library_heals_itself_from_its_kept_uploads(tmp_path: Path) -> None:
    engine = Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    directory = FileLibraryStore(tmp_path / "index").directory(library_key(SERVER))
    (current_build(directory) / UNITS).write_text("{damaged", "utf-8")
    fresh = Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())  # a restart
    assert "disused docks" in fresh.answering(SERVER).answer("what did the council lease?").answer
    assert leftovers(fresh, SERVER) == []


def test_the_default_library_is_rebuilt_when_its_configured_corpus_changes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(HARBOUR)
    Engine(engine_config(tmp_path / "index", corpus), embedder=HashingEmbedder()).default.loaded()
    corpus.write_bytes(BAKERY)
    restarted = Engine(engine_config(tmp_path / "index", corpus), embedder=HashingEmbedder())
    assert restarted.default.describe().titles == ("Bakery Opens",)


def test_a_document_of_another_library_is_said_to_be_not_here(engine: Engine) -> None:
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    theirs = engine.answering(SERVER).describe().documents[0].key
    with pytest.raises(UnknownDocument, match=r"^That document is not in this library\.$"):
        engine.answering(OTHER).answer("what did the council lease?", document=theirs)
    with pytest.raises(UnknownDocument):
        engine.default.summarise(document=theirs)


def test_a_library_another_process_is_repairing_is_waited_for_not_refused(tmp_path: Path) -> None:
    """The processes of a fleet all meet the missing default library at once: one builds it, the
    others wait for it and answer from it, none refuses the question."""
    import threading
    import time

    from citebot.index.build import SourceFile

    from ..conftest import ARTICLE

    engine = Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())
    other = Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())
    answers: list[object] = []
    asking = threading.Thread(target=lambda: answers.append(engine.default.answer("Why did relations rupture?")))
    with other.store.locked(DEFAULT_KEY, "another process repairing it"):
        asking.start()
        time.sleep(0.5)
        assert answers == []  # waiting, not refused
        other.builder.build(other.store, DEFAULT_KEY, [SourceFile(ARTICLE, ARTICLE.name, "configured")])
    asking.join(10)

    assert len(answers) == 1 and getattr(answers[0], "citations", None)
