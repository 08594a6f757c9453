"""Property-based checks: whatever the text, quotes are verbatim and messages are safe."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citebot.bot.render import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    defuse_mentions,
    render_answer,
)
from citebot.index.engine import Engine
from citebot.index.errors import DocumentRejected, QuestionRejected
from citebot.index.formats import normalise_text
from citebot.index.ingest import parse_document

from ..conftest import engine_config
from ..fakes import HashingEmbedder

WORDS = st.sampled_from(
    "the council voted Mr. Dr. Jan. 14, 2026 docks harbour U.S. @everyone <@&12> <#34> **bold** `code` "
    "| • › Subscribe Log in 3 min read Credit...Photo ¶ é 中文 🙂 a.m. ET ruptured relations".split()
)
SENTENCE = st.lists(WORDS, min_size=1, max_size=25).map(" ".join).map(lambda s: s + st_end(s))
LINE = st.one_of(SENTENCE, st.lists(SENTENCE, min_size=1, max_size=4).map(" ".join), st.text(max_size=80))
DOCUMENT = st.lists(LINE, min_size=1, max_size=30).flatmap(
    lambda lines: st.lists(st.sampled_from(["\n", "\n\n", "\n\n\n"]), min_size=len(lines), max_size=len(lines)).map(
        lambda seps: "".join(line + sep for line, sep in zip(lines, seps, strict=True))
    )
)


def st_end(sentence: str) -> str:
    return "" if sentence.endswith((".", "?", "!")) else "."


def squash(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


@settings(max_examples=150, deadline=None)
@given(DOCUMENT)
def test_every_sentence_ingest_keeps_is_verbatim_source_text(text: str) -> None:
    try:
        document = parse_document(text)
    except DocumentRejected:
        return
    source = squash(text)
    for sentence in document.sentences:
        assert sentence.text and squash(sentence.text) == sentence.text
        assert sentence.text in source
    for paragraph in document.paragraphs:
        assert paragraph.text in source


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(DOCUMENT, st.text(min_size=1, max_size=300))
def test_answers_quote_only_source_text_and_render_safely(tmp_path_factory, text: str, question: str) -> None:
    try:
        parse_document(text)
    except DocumentRejected:
        return
    directory: Path = tmp_path_factory.mktemp("prop")
    corpus = directory / "doc.txt"
    corpus.write_text(text, "utf-8")
    engine = Engine(engine_config(directory / "index", corpus), embedder=HashingEmbedder())
    try:
        answer = engine.default.answer(question)
    except (QuestionRejected, DocumentRejected):  # no words to ask, or bytes that are not text
        return
    source = squash(normalise_text(text))  # verbatim: the document as normalised for indexing
    assert 0 <= len(answer.citations) <= 3
    for citation in answer.citations:
        assert citation.text in source
    embed = render_answer(answer)
    assert len(embed.description or "") <= DESCRIPTION_LIMIT and len(embed) <= EMBED_TOTAL_LIMIT
    for part in (embed.description or "", embed.title or "", embed.author.name or ""):
        assert defuse_mentions(part) == part
