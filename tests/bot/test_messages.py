"""Every failure becomes one reply, worded in one place: each asserted exactly."""

from __future__ import annotations

import logging

import pytest
from discord import app_commands

from citebot.bot import messages
from citebot.bot.errors import BuildBusy
from citebot.bot.messages import Context, reply_for_error
from citebot.index.errors import DocumentRejected, IndexMissing, LibraryFull, QuestionRejected, UnknownDocument


@pytest.mark.parametrize(
    ("error", "context", "reply"),
    [
        (
            app_commands.MissingPermissions(["manage_guild"]),
            Context.COMMAND,
            "Only members with the Manage Server permission can do that.",
        ),
        (app_commands.NoPrivateMessage(), Context.COMMAND, "That command only works in a server."),
        (app_commands.CheckFailure(), Context.COMMAND, "You can't use that command here."),
        (QuestionRejected("Ask a question in words."), Context.ANSWER, "Ask a question in words."),
        (IndexMissing("no index"), Context.ANSWER, "Sorry, I can't answer right now: no index"),
        (IndexMissing("no index"), Context.COMMAND, "Sorry, I can't do that right now: no index"),
        (
            DocumentRejected("The file is empty."),
            Context.BUILD,
            "Not reindexed: The file is empty. The current index keeps serving.",
        ),
        (
            LibraryFull("A library holds at most 2 documents; remove one first."),
            Context.ADD,
            "Not added: A library holds at most 2 documents; remove one first. This server's library is unchanged.",
        ),
        (
            UnknownDocument("That document is not in this server's library."),
            Context.BUILD,
            "Not reindexed: That document is not in this server's library. The current index keeps serving.",
        ),
        # A document another library holds (/ask document: in a DM or another server) is not a failure.
        (
            UnknownDocument("That document is not in this library."),
            Context.ANSWER,
            "That document is not in this library.",
        ),
        (
            BuildBusy(messages.BUILD_BUSY),
            Context.BUILD,
            "Not reindexed: A change to this server's library is still running; try again when it finishes. "
            "The current index keeps serving.",
        ),
        (RuntimeError("/srv/secret/path broke"), Context.ANSWER, "Sorry, something went wrong. It has been logged."),
        (
            RuntimeError("/srv/secret/path broke"),
            Context.BUILD,
            "Reindex failed unexpectedly (logged). The current index keeps serving.",
        ),
    ],
)
def test_each_error_gets_its_reply(error: BaseException, context: Context, reply: str) -> None:
    assert reply_for_error(error, context) == reply


def test_unexpected_errors_are_logged_with_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="citebot.bot.messages"):
        reply_for_error(RuntimeError("boom"), Context.ANSWER)
    assert caplog.records[0].exc_info is not None


@pytest.mark.parametrize(
    ("titles", "text"),
    [
        (("Harbour Vote",), "Not in the article: “Harbour Vote” doesn't answer that."),
        (("A", "B", "C"), "Not in the documents: none of the 3 documents here answers that."),
    ],
)
def test_one_wording_for_not_answered(titles: tuple[str, ...], text: str) -> None:
    assert messages.not_answered(titles) == text


def test_no_reply_names_a_path_of_the_server() -> None:
    error = IndexMissing("No index has been built in /srv/citebot/index/servers/12 yet.")
    reply = reply_for_error(error, Context.ANSWER)
    assert "/srv" not in reply and reply.startswith("Sorry, I can't answer right now: No index has been built in")
    assert "sentence-transformers/all-MiniLM-L6-v2" in messages.without_paths(
        "model sentence-transformers/all-MiniLM-L6-v2"
    )


def test_about_shows_a_local_model_by_its_folder_name_only() -> None:
    from citebot.bot.render import model_name

    assert model_name("/home/alice/models/my-minilm") == "my-minilm"
    assert model_name("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"


def test_every_build_stage_has_its_own_progress_line() -> None:
    from citebot.bot.progress import progress_text

    lines = {stage: progress_text(stage, 1, 2) for stage in ("parsing", "embedding", "relating", "writing")}
    assert len(set(lines.values())) == 4
    assert messages.WORKING not in lines.values()
