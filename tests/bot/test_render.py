"""Rendering answers for Discord: limits, escaping and mention safety, without Discord."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from citebot.bot.render import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    UNCERTAIN_COLOUR,
    defuse_mentions,
    render_about,
    render_answer,
    render_notice,
    trim,
)
from citebot.index.answer import Answer, Citation
from citebot.index.documents import DocumentMeta
from citebot.index.library_info import DocumentInfo, LibraryInfo

META = DocumentMeta(title="A *Title* with @everyone", author="Ann Author", date="Jan. 1, 2026")


def answer_with(*texts: str, question: str = "why?") -> Answer:
    citations = tuple(Citation(n, n, "body", t, 0.5) for n, t in enumerate(texts, start=1))
    return Answer(question, " ".join(texts), False, citations, META, 1.0)


def test_answer_embed_quotes_each_citation_with_its_paragraph() -> None:
    embed = render_answer(answer_with("First quoted sentence.", "Second one."))
    assert "> First quoted sentence.\n> — *¶1*" in embed.description
    assert "*¶2*" in embed.description
    assert embed.footer.text == "Ann Author · Jan. 1, 2026"
    assert embed.author.name == "Q: why?"


def test_markdown_and_mentions_in_quotes_are_made_inert() -> None:
    embed = render_answer(answer_with("Ping @everyone and <@&123> in <#456>, **bold** `code`", question="@here hi"))
    text = embed.description
    assert "@everyone" not in text and "@\u200beveryone" in text
    assert "<@&123>" not in text and "<#456>" not in text
    assert "\\*\\*bold\\*\\*" in text and "\\`code\\`" in text
    assert "@here" not in embed.author.name
    assert "\\*Title\\*" in embed.title and "@everyone" not in embed.title


def test_long_answers_are_trimmed_at_a_sentence_within_the_limit() -> None:
    long_quote = " ".join(f"Sentence number {i} is here." for i in range(600))
    embed = render_answer(answer_with(long_quote))
    assert len(embed.description) <= DESCRIPTION_LIMIT
    assert embed.description.endswith("is here.")
    assert len(embed) <= EMBED_TOTAL_LIMIT


def test_trim_cuts_at_a_word_when_there_is_no_sentence_end() -> None:
    text = "word " * 1000
    out = trim(text, 100)
    assert len(out) <= 100 and out.endswith("…") and "wor…" not in out


def test_abstention_says_so_plainly() -> None:
    answer = Answer("capital of Australia?", "The document does not answer that.", True, (), META, 0.1)
    embed = render_answer(answer)
    assert "doesn't answer that" in embed.description and "¶" not in embed.description


def test_about_lists_what_the_bot_knows() -> None:
    document = DocumentInfo("k", META.title, META.author, META.date, 6, 19, "a.txt", "upload", None, None)
    summary = LibraryInfo(
        False, (document,), paragraphs=6, sentences=19, model="m", built_at="2026-01-01T00:00:00Z", index_type="flat"
    )
    embed = render_about(summary)
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Author"] == "Ann Author" and "6 paragraphs" in fields["Indexed"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=3000), min_size=1, max_size=3), st.text(max_size=2000))
def test_any_answer_renders_within_limits_and_without_live_mentions(texts: list[str], question: str) -> None:
    embed = render_answer(answer_with(*texts, question=question))
    assert len(embed.description or "") <= DESCRIPTION_LIMIT
    assert len(embed) <= EMBED_TOTAL_LIMIT
    for part in (embed.description or "", embed.author.name or "", embed.title or ""):
        assert defuse_mentions(part) == part  # nothing left that could render as a mention
    assert len(render_notice(question * 3)) <= CONTENT_LIMIT


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=600), st.text(min_size=1, max_size=1500)), min_size=2, max_size=3)
)
def test_answers_quoting_several_documents_name_each_within_limits(quotes: list[tuple[str, str]]) -> None:
    citations = tuple(Citation(n, n, "body", text, 0.5, title) for n, (title, text) in enumerate(quotes, start=1))
    embed = render_answer(Answer("q?", "", False, citations, None, 1.0))
    assert len(embed.description or "") <= DESCRIPTION_LIMIT and len(embed) <= EMBED_TOTAL_LIMIT
    assert defuse_mentions(embed.description or "") == embed.description


def test_each_citation_names_its_document_when_an_answer_quotes_several() -> None:
    citations = (
        Citation(1, 2, "body", "Rye bread sells out.", 0.9, "Bakery Opens on Main Street"),
        Citation(2, 1, "body", "The docks are leased.", 0.8, "Harbour Vote " + "and more " * 20),
    )
    embed = render_answer(Answer("q?", "", False, citations, None, 1.0))
    assert "— *Bakery Opens on Main Street, ¶2*" in embed.description
    harbour = embed.description.split("\n")[-1]
    assert harbour.startswith("> — *Harbour Vote") and harbour.endswith("…, ¶1*") and len(harbour) < 70


def test_command_mentions_timestamps_masked_links_and_controls_render_as_plain_text() -> None:
    quote = "Run </ban:123456> at <t:1700000000:R>, see [the docs](https://evil.example) in <id:customize>."
    embed = render_answer(answer_with(quote, question="\x1b[31mred\x1b[0m \u202eevil"))
    text = embed.description
    assert "</ban:" not in text and "<t:1700000000" not in text and "<id:customize" not in text
    assert "\\[the docs](" in text  # a masked link needs its bracket: escaped, it shows as text
    assert "\x1b" not in embed.author.name and "\u202e" not in embed.author.name and "red" in embed.author.name


def test_a_citation_from_a_web_page_links_to_the_quoted_sentence() -> None:
    from citebot.bot.messages import quote_link

    citation = Citation(1, 2, "body", "The vote passed, nine-to-four.", 0.9, "Harbour", "https://ex.org/a(b)?q=1#x")
    embed = render_answer(Answer("q?", "", False, (citation,), META, 1.0))
    link = quote_link("https://ex.org/a(b)?q=1#x", "The vote passed, nine-to-four.")
    assert link == "https://ex.org/a%28b%29?q=1#:~:text=The%20vote%20passed%2C%20nine%2Dto%2Dfour."
    assert f"*[¶2]({link})*" in embed.description


def test_a_citation_from_a_pdf_says_its_page_and_links_to_it() -> None:
    citation = Citation(
        1, 4, "body", "Dues are paid in January.", 0.9, "Club rules", "https://ex.org/rules.pdf", page=3
    )
    embed = render_answer(Answer("q?", "", False, (citation,), META, 1.0))
    assert "*[p. 3, ¶4](https://ex.org/rules.pdf#page=3)*" in embed.description
    assert citation.to_json()["page"] == 3


def test_a_citation_from_a_discord_message_links_to_the_message_as_it_is() -> None:
    jump = "https://discord.com/channels/1001/2000/3000"
    citation = Citation(1, 1, "body", "The boathouse opens at nine.", 0.9, "Opening hours", jump)
    embed = render_answer(Answer("q?", "", False, (citation,), META, 1.0))
    assert f"*[¶1]({jump})*" in embed.description
    assert citation.to_json()["page"] is None


def test_an_uncertain_answer_is_shown_as_the_closest_passage_not_as_the_answer() -> None:
    answer = dataclasses.replace(answer_with("A nearby sentence."), uncertain=True)
    embed = render_answer(answer)
    assert embed.description.startswith("**The closest the document comes:**")
    assert "> A nearby sentence." in embed.description and "not sure" in embed.description
    assert embed.colour == UNCERTAIN_COLOUR
    sure = render_answer(answer_with("A nearby sentence."))
    assert "closest" not in sure.description and sure.colour != UNCERTAIN_COLOUR


def test_a_summary_is_headed_as_the_documents_own_words() -> None:
    embed = render_answer(dataclasses.replace(answer_with("First.", "Second."), summary=True))
    assert embed.description.startswith("**In the document's own words:**") and "*¶2*" in embed.description


def test_the_shown_paragraph_bolds_the_quoted_sentence_and_stays_inert() -> None:
    from citebot.bot.render import render_paragraph
    from citebot.index.documents import Paragraph, QuotedParagraph

    paragraph = Paragraph("body", 3, "First one. Ping @everyone *here*. Last.")
    found = QuotedParagraph(META, paragraph, ("First one.", "Ping @everyone *here*.", "Last."))
    embed = render_paragraph(found, 1)
    assert embed.description == "First one. **Ping @\u200beveryone \\*here\\*.** Last."
    assert embed.footer.text == "¶3"


def test_insights_render_within_limits_and_make_questions_inert() -> None:
    from citebot.bot.insights_report import InsightsReport
    from citebot.bot.render import render_insights

    long = "why " * 400 + "@everyone"
    report = InsightsReport(7, 12, 6, 2, 4, ((long, 3), ("capital?", 1)), ((long, 2, 1),))
    embed = render_insights(report, 30)
    assert embed.description.startswith("**12** asked · **50%** answered (6)")
    assert all(len(f.value) <= 1024 for f in embed.fields) and len(embed) <= EMBED_TOTAL_LIMIT
    assert "@everyone" not in str(embed.to_dict())
