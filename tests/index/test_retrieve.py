"""The ranking's reading of each sentence, done once per sentence across rebuilds."""

from __future__ import annotations

from pathlib import Path

from citebot.index import retrieve
from citebot.index.engine import Engine
from citebot.index.library import NewDocument
from citebot.index.retrieve import Retriever

from ..conftest import engine_config
from ..fakes import HashingEmbedder


def test_a_rebuilt_library_reads_only_its_new_sentences(tmp_path: Path, monkeypatch) -> None:
    engine = Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())
    first = engine.library(1).add(
        [NewDocument("harbour.txt", b"Harbour Vote\n\nThe council voted to lease the docks.\n")]
    )
    second = engine.library(1).add([NewDocument("bakery.txt", b"Bakery Opens\n\nIt sells rye bread every morning.\n")])
    read: list[str] = []
    real = retrieve._Reading.of

    def counting(text: str) -> retrieve._Reading:
        read.append(text)
        return real(text)

    monkeypatch.setattr(retrieve._Reading, "of", staticmethod(counting))
    before = Retriever(first.stored)
    assert len(read) == len(first.stored.sentences)
    read.clear()
    after = Retriever(second.stored, previous=before)
    assert read == [s.text for s in second.stored.documents[-1].sentences]
    fresh = Retriever(second.stored)
    embedder = HashingEmbedder()
    for question in ("what did the council lease?", "what does the bakery sell?", "when does it open?"):
        vector = embedder.encode([question])[0]
        assert after.retrieve(question, vector) == fresh.retrieve(question, vector)  # ranks as if read anew
