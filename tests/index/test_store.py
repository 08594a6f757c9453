"""The index on disk: round trip, manifest checks, damage detection and atomic swaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citebot.index.engine import Engine
from citebot.index.errors import IndexCorrupt, IndexMismatch, IndexMissing
from citebot.index.library import NewDocument
from citebot.index.related import vocabulary
from citebot.index.store import (
    MANIFEST,
    UNITS,
    VECTORS,
    DiskFull,
    current_build,
    load_index,
    read_manifest,
)

from ..conftest import ARTICLE, engine_config
from ..fakes import HashingEmbedder
from .test_library import disk_full


def built(tmp_path: Path, *corpus: Path) -> tuple[Engine, HashingEmbedder]:
    embedder = HashingEmbedder()
    engine = Engine(engine_config(tmp_path / "index", *corpus), embedder=embedder)
    engine.default.rebuild()
    return engine, embedder


def test_round_trip_keeps_units_and_manifest(tmp_path: Path) -> None:
    built(tmp_path)
    stored = load_index(tmp_path / "index")
    manifest = stored.manifest
    assert manifest.model == "test/hashing-embedder"
    assert manifest.dimension == 64
    assert manifest.index_type == "flat"
    assert manifest.counts["body_paragraphs"] == 6
    assert manifest.counts["sentences"] == manifest.counts["vectors"] == len(stored.sentences) == 19
    assert manifest.sources[0].name == "carney-beijing.txt"
    assert len(manifest.sources[0].sha256) == 64
    assert manifest.built_at.endswith("Z")
    assert stored.documents[0].meta.author == "Matina Stevis-Gridneff"
    assert [s.id for s in stored.sentences] == list(range(19))
    # Nothing is pickled: units are JSON, vectors are FAISS's own format.
    build = current_build(tmp_path / "index")
    json.loads((build / UNITS).read_text())
    assert not (build / VECTORS).read_bytes().startswith(b"\x80")


def test_asking_with_an_index_on_disk_does_not_embed_the_corpus_again(tmp_path: Path) -> None:
    built(tmp_path)
    embedder = HashingEmbedder()
    fresh = Engine(engine_config(tmp_path / "index"), embedder=embedder)
    fresh.default.answer("why did relations rupture?")
    assert embedder.encoded_texts == 1  # the question only


def test_missing_index_is_built_on_first_use(fake_engine: Engine) -> None:
    with pytest.raises(IndexMissing):
        load_index(fake_engine.config.index_dir)
    answer = fake_engine.default.answer("why did relations rupture?")
    assert not answer.abstained
    assert read_manifest(fake_engine.config.index_dir).counts["sentences"] == 19


def test_other_model_is_a_mismatch_and_triggers_a_rebuild(tmp_path: Path) -> None:
    built(tmp_path)
    with pytest.raises(IndexMismatch, match="other/model"):
        load_index(tmp_path / "index", expected_model="other/model")
    embedder = HashingEmbedder(dimension=32, model_id="other/model")
    engine = Engine(engine_config(tmp_path / "index", model="other/model"), embedder=embedder)
    engine.default.loaded()
    manifest = read_manifest(tmp_path / "index")
    assert (manifest.model, manifest.dimension) == ("other/model", 32)
    words = vocabulary(s.text for s in load_index(tmp_path / "index").sentences)
    assert embedder.encoded_texts == 19 + len(set(words.values()))  # sentences, then words (related terms)


def test_changed_source_triggers_a_rebuild(tmp_path: Path) -> None:
    corpus = tmp_path / "article.txt"
    corpus.write_text(ARTICLE.read_text("utf-8"), "utf-8")
    built(tmp_path, corpus)
    corpus.write_text(
        ARTICLE.read_text("utf-8") + "\nA new closing paragraph about the talks was added later.\n", "utf-8"
    )
    engine = Engine(engine_config(tmp_path / "index", corpus), embedder=HashingEmbedder())
    stored = engine.default.loaded().stored
    assert any("closing paragraph" in s.text for s in stored.sentences)


@pytest.mark.parametrize(
    "damage", ["truncate_vectors", "flip_units", "delete_vectors", "garble_manifest", "bad_current"]
)
def test_damaged_index_is_detected_and_rebuilt(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    built(tmp_path)
    index_dir = tmp_path / "index"
    build = current_build(index_dir)
    if damage == "truncate_vectors":
        data = (build / VECTORS).read_bytes()
        (build / VECTORS).write_bytes(data[: len(data) // 2])
    elif damage == "flip_units":
        text = (build / UNITS).read_text("utf-8")
        (build / UNITS).write_text(text.replace("ruptured", "repaired"), "utf-8")
    elif damage == "delete_vectors":
        (build / VECTORS).unlink()
    elif damage == "garble_manifest":
        (build / MANIFEST).write_text("{not json", "utf-8")
    else:
        (index_dir / "CURRENT").write_text("../../etc", "ascii")
    with pytest.raises(IndexCorrupt):
        load_index(index_dir)
    engine = Engine(engine_config(index_dir), embedder=HashingEmbedder())
    with caplog.at_level("WARNING", logger="citebot.index.engine"):
        answer = engine.default.answer("why did relations rupture?")
    assert "Index unusable" in caplog.text and "rebuilding from its sources" in caplog.text
    assert any("ruptured in 2018" in c.text for c in answer.citations)
    load_index(index_dir)  # healthy again


def test_damaged_index_with_its_source_gone_is_a_clear_error(tmp_path: Path) -> None:
    corpus = tmp_path / "article.txt"
    corpus.write_text(ARTICLE.read_text("utf-8"), "utf-8")
    built(tmp_path, corpus)
    (current_build(tmp_path / "index") / VECTORS).write_bytes(b"garbage")
    corpus.unlink()
    engine = Engine(engine_config(tmp_path / "index", corpus), embedder=HashingEmbedder())
    with pytest.raises(IndexMissing, match="source is gone"):
        engine.default.loaded()


def test_an_uploaded_document_stays_live_and_is_rebuilt_from_its_kept_copy(tmp_path: Path) -> None:
    engine, _ = built(tmp_path)
    page = (Path(__file__).parent.parent / "data" / "second_page.txt").read_bytes()
    engine.default.replace([NewDocument("harbour.txt", page)])
    # A new process sees the upload as the live corpus, not a stale configured article.
    fresh = Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())
    assert fresh.default.loaded().stored.documents[0].meta.author == "Lars Holm and Maria Quist"
    (current_build(tmp_path / "index") / VECTORS).write_bytes(b"garbage")
    again = Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())
    assert again.default.loaded().stored.documents[0].meta.title.startswith("Harbour Town")


STEPS = ["start", "units", "vectors", "manifest", "renamed", "current", "cleaned"]


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("step", STEPS)
def test_a_build_interrupted_at_any_step_leaves_a_complete_index(tmp_path: Path, step: str) -> None:
    engine, _ = built(tmp_path)
    page = (Path(__file__).parent.parent / "data" / "second_page.txt").read_bytes()

    def crash(name: str) -> None:
        if name == step:
            raise Interrupted(name)

    with pytest.raises(Interrupted):
        engine.default.replace([NewDocument("harbour.txt", page)], on_step=crash)
    stored = load_index(tmp_path / "index")  # verifies every file against the manifest
    title = stored.documents[0].meta.title
    before = STEPS.index(step) < STEPS.index("current")
    assert title.startswith("Mark Carney" if before else "Harbour Town")


def test_large_corpora_switch_to_an_approximate_index_recorded_in_the_manifest(tmp_path: Path) -> None:
    engine = Engine(engine_config(tmp_path / "index", approximate_from=10), embedder=HashingEmbedder())
    engine.default.rebuild()
    manifest = read_manifest(tmp_path / "index")
    assert manifest.index_type == "hnsw" and manifest.index_params["M"] == 32
    answer = engine.default.answer("why did relations rupture?")
    assert any("ruptured in 2018" in c.text for c in answer.citations)


@pytest.mark.parametrize("where", ["units", "vectors"])
def test_a_full_disk_is_said_as_such_removes_what_it_wrote_and_the_next_build_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:

    import faiss

    engine, _ = built(tmp_path)
    index_dir = tmp_path / "index"
    live = current_build(index_dir)
    page = (Path(__file__).parent.parent / "data" / "second_page.txt").read_bytes()
    if where == "units":
        disk_full(monkeypatch)
    else:

        def full_faiss(index: object, path: str) -> None:
            raise RuntimeError("Error in faiss::FileIOWriter: write error ... No space left on device")

        monkeypatch.setattr(faiss, "write_index", full_faiss)
    with pytest.raises(DiskFull, match="No space left"):
        engine.default.replace([NewDocument("harbour.txt", page)])
    assert [p.name for p in (index_dir / "builds").iterdir()] == [live.name]  # nothing half-written stays
    assert list((index_dir / "sources").iterdir()) == []  # the upload went with the failed build
    assert "ruptured in 2018" in engine.default.answer("why did relations rupture?").answer
    monkeypatch.undo()
    assert engine.default.replace([NewDocument("harbour.txt", page)]).title.startswith("Harbour Town")


def test_a_build_past_its_time_budget_is_stopped_and_changes_nothing(tmp_path: Path) -> None:
    from citebot.index.errors import BuildTimedOut

    built(tmp_path)
    slow = Engine(engine_config(tmp_path / "index", build_timeout_seconds=1e-6), embedder=HashingEmbedder())
    page = (Path(__file__).parent.parent / "data" / "second_page.txt").read_bytes()
    with pytest.raises(BuildTimedOut, match="BUILD_TIMEOUT_SECONDS"):
        slow.default.replace([NewDocument("harbour.txt", page)])
    assert "ruptured in 2018" in slow.default.answer("why did relations rupture?").answer
    assert len(list((tmp_path / "index" / "builds").iterdir())) == 1


def test_a_default_index_built_before_related_terms_is_rebuilt_embedding_only_words(tmp_path: Path) -> None:
    built(tmp_path)
    build = current_build(tmp_path / "index")
    manifest = json.loads((build / MANIFEST).read_text("utf-8"))
    del manifest["counts"]["related_terms"]  # as an earlier version wrote it
    (build / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    embedder = HashingEmbedder()
    engine = Engine(engine_config(tmp_path / "index"), embedder=embedder)
    stored = engine.default.loaded().stored
    assert stored.manifest.counts["related_terms"] == len(stored.related)
    # The sentences come from the embedding cache; only the words had to be compared, and they are cached too.
    assert embedder.encoded_texts == 0
