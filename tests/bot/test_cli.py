"""The `citebot` command line, as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from citebot.bot.cli import main
from citebot.bot.settings import Settings, SettingsError

from ..conftest import ARTICLE_TEXT, DATA


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    index_dir = tmp_path / "index"
    monkeypatch.setenv("INDEX_DIR", str(index_dir))
    monkeypatch.setenv("QUERY_ENCODER", "sentence-transformers")  # the default path runs in a subprocess below
    monkeypatch.chdir(tmp_path)  # no stray .env
    return index_dir


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_ask_prints_the_quote_citation_and_source(cli_env: Path) -> None:
    code, text = run_cli("ask", "why did relations rupture?")
    assert code == 0
    assert "ruptured in 2018" in text and "[¶3]" in text
    assert "Matina Stevis-Gridneff" in text and "Jan. 14, 2026" in text


def test_ask_says_plainly_when_the_article_does_not_answer(cli_env: Path) -> None:
    code, text = run_cli("ask", "What is the capital of Australia?")
    assert code == 0
    assert text.startswith("Not in the article")


def test_index_build_and_info(cli_env: Path) -> None:
    code, text = run_cli("index", "build", str(DATA / "second_page.txt"))
    assert code == 0 and "Harbour Town" in text
    code, text = run_cli("index", "info", "--json")
    manifest = json.loads(text)
    assert manifest["sources"][0]["name"] == "second_page.txt"
    assert manifest["counts"]["body_paragraphs"] == 4


def test_eval_reports_rates(cli_env: Path) -> None:
    code, text = run_cli("eval", str(DATA / "dev_questions.jsonl"), "--json")
    report = json.loads(text)["report"]
    assert code == 0 and report["hit_rate"] >= 0.9 and report["answerable"] >= 30


def test_eval_reports_each_article_of_a_squad_file_then_all_together(cli_env: Path) -> None:
    code, text = run_cli("eval", str(DATA / "python-statements.squad.json"), str(DATA / "dev_questions.jsonl"))
    assert code == 0
    article = "python-statements.squad.json: The Python Language Reference: statements (excerpts)"
    assert text.index(article) < text.index("dev_questions.jsonl") < text.index("All together")


def test_training_on_fewer_than_three_articles_is_refused_before_anything_is_read(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = cli_env / "ranker.json"
    assert main(["train-ranker", str(DATA / "squad2-dev-normans.json"), "--out", str(out)]) == 2
    assert "three articles or more" in capsys.readouterr().err and not out.exists()


def test_bad_setting_is_a_clear_error(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAX_CITATIONS", "lots")
    assert main(["ask", "hello"]) == 2
    assert "MAX_CITATIONS='lots' is not valid" in capsys.readouterr().err


def test_settings_read_env_file_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DISCORD_TOKEN=from-file\nASK_COOLDOWN_SECONDS=9\nLOG_LEVEL=debug\n")
    settings = Settings.from_env({"ASK_COOLDOWN_SECONDS": "3"}, env_file=env_file)
    assert settings.discord_token == "from-file"
    assert settings.ask_cooldown_seconds == 3.0
    assert settings.log_level == "DEBUG"
    assert "from-file" not in repr(settings)
    with pytest.raises(SettingsError):
        Settings.from_env({"SYNC_COMMANDS": "sometimes"}, env_file=None)


def test_json_batch_from_stdin_in_a_new_process(tmp_path: Path) -> None:
    questions = "why did relations rupture?\n\nWhat is the capital of Australia?\nwho wrote this?\n"
    env = {**os.environ, "INDEX_DIR": str(tmp_path / "index")}
    done = subprocess.run(
        [sys.executable, "-m", "citebot.bot", "ask", "--json", "-"],
        input=questions,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=True,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["question"] for r in rows] == [
        "why did relations rupture?",
        "What is the capital of Australia?",
        "who wrote this?",
    ]
    for row in rows:
        assert set(row) >= {"question", "answer", "abstained", "citations", "source", "timing_ms"}
        assert set(row["source"]) == {"title", "author", "date"}
        for citation in row["citations"]:
            assert set(citation) >= {"n", "paragraph", "text", "score"}
            assert citation["text"] in ARTICLE_TEXT
    assert rows[0]["citations"][0]["paragraph"] == 3 and not rows[0]["abstained"]
    assert rows[1]["abstained"] and rows[1]["citations"] == []
    assert rows[2]["source"]["author"] == "Matina Stevis-Gridneff"


def test_docs_commands_manage_a_server_library_and_leave_the_default_alone(cli_env: Path) -> None:
    code, text = run_cli("docs", "add", "--server", "5", str(DATA / "second_page.txt"))
    assert code == 0 and text.startswith("Added “Harbour Town")
    code, text = run_cli("docs", "list", "--server", "5", "--json")
    (document,) = json.loads(text)
    assert document["name"] == "second_page.txt" and document["added_by"] == "terminal"
    code, text = run_cli("ask", "--server", "5", "--json", "who wrote this?")
    assert json.loads(text)["citations"][0]["document"].startswith("Harbour Town")
    code, text = run_cli("ask", "who wrote this?")
    assert "Matina Stevis-Gridneff" in text  # the default library is untouched
    code, text = run_cli("docs", "remove", "--server", "5", document["key"])
    assert code == 0 and "questions here use the default library again" in text
    code, text = run_cli("docs", "remove", "--server", "5", document["key"])
    assert code == 1


def test_ingest_shows_what_would_be_indexed_from_a_file_and_a_url(
    cli_env: Path, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    code, text = run_cli("ingest", "--json", str(DATA / "second_page.txt"), f"{site}/news")
    assert code == 0
    from_file, from_url = (json.loads(line) for line in text.splitlines())
    assert from_file["title"].startswith("Harbour Town") and from_file["dropped"] > 0
    assert from_url["source"] == f"{site}/news" and from_url["author"] == "Lars Holm"
    assert from_url["date"] == "2025-03-03" and any("nine votes to four" in p for p in from_url["paragraphs"])
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "false")
    assert run_cli("ingest", f"{site}/news")[0] == 1


def test_a_pdf_by_url_is_ingested_added_and_cited_by_page(
    cli_env: Path, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    code, text = run_cli("ingest", "--json", f"{site}/normans.pdf")
    row = json.loads(text)
    assert code == 0 and row["title"] == "Normans" and row["author"] == "Wiki Editors"
    assert len(row["pages"]) == len(row["paragraphs"]) == 14 and row["pages"][0] == 1 and row["pages"][-1] >= 3
    code, text = run_cli("docs", "add", "--server", "5", f"{site}/normans.pdf")
    assert code == 0, text
    code, text = run_cli("ask", "--server", "5", "--json", "When did the Normans attack Dyrrachium?")
    (first, *_) = json.loads(text)["citations"]
    assert first["page"] == row["pages"][first["paragraph"] - 1] >= 2
    assert first["url"] == f"{site}/normans.pdf"
    code, text = run_cli("ask", "--server", "5", "When did the Normans attack Dyrrachium?")
    assert f"[p. {first['page']}, ¶{first['paragraph']}]" in text


def test_a_scanned_pdf_is_refused_by_ingest_and_docs_add(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.paged_documents import make_scanned_pdf

    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_scanned_pdf(1))
    assert run_cli("ingest", str(scan))[0] == 1
    assert "no text to quote; it looks scanned" in capsys.readouterr().err
    assert run_cli("docs", "add", "--server", "5", str(scan))[0] == 1
    assert "looks scanned" in capsys.readouterr().err
    assert not (cli_env / "servers" / "5" / "sources").exists() or not any(
        (cli_env / "servers" / "5" / "sources").iterdir()
    )


def test_eval_scores_a_squad_file_on_its_own_index(cli_env: Path, tmp_path: Path) -> None:
    squad = {
        "data": [
            {
                "title": "Lighthouses",
                "paragraphs": [
                    {
                        "context": "The lighthouse keeper lit the lamp at dusk every evening. "
                        "The tower was painted with red and white stripes.",
                        "qas": [
                            {
                                "question": "How was the tower painted?",
                                "id": "a",
                                "is_impossible": False,
                                "answers": [{"text": "red and white stripes", "answer_start": 0}],
                            },
                            {"question": "Who designed the tower?", "id": "b", "is_impossible": True, "answers": []},
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "lighthouses.json"
    path.write_text(json.dumps(squad))
    code, text = run_cli("eval", str(path), "--json")
    report = json.loads(text)["report"]
    assert code == 0 and report["answerable"] == 1 and report["off_topic"] == 1
    assert report["hits"] == 1 and report["false_abstentions"] == 0
    assert not cli_env.exists()  # scored on a scratch index; the configured library is untouched


def test_ask_json_says_whether_the_answer_is_uncertain(cli_env: Path) -> None:
    code, text = run_cli("ask", "--json", "why did relations rupture?")
    answer = json.loads(text)
    assert code == 0 and answer["uncertain"] is False and not answer["abstained"]


def test_summary_and_follow_up_from_the_terminal(cli_env: Path) -> None:
    code, text = run_cli("summary")
    assert code == 0 and text.startswith("In the document's own words:") and "[standfirst]" in text and "[¶1]" in text
    code, text = run_cli("ask", "--json", "--after", "why did relations rupture?", "and the executive?")
    answer = json.loads(text)
    assert code == 0 and any("two large houses" in c["text"] for c in answer["citations"])


def test_insights_from_the_terminal_read_what_the_bot_stored(cli_env: Path) -> None:
    from citebot.bot.sqlite_conversations import SqliteConversationStore as ConversationStore
    from citebot.index.answer import Answer

    store = ConversationStore(cli_env)
    store.record(
        message_id=1,
        server_id=9,
        channel_id=2,
        member_id=3,
        answer=Answer("capital of australia?", "", True, (), None, 0.1),
    )
    store.close()
    code, text = run_cli("insights", "--server", "9")
    assert code == 0 and "1 asked, 0% answered" in text and "not answered 1×: capital of australia?" in text
    code, text = run_cli("insights", "--server", "9", "--forget")
    assert code == 0 and text.startswith("Forgotten:")
    code, text = run_cli("insights", "--server", "9", "--json")
    assert json.loads(text)["asked"] == 0


def test_with_database_url_libraries_and_questions_live_in_postgres(
    cli_env: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    assert run_cli("db", "upgrade") == (0, "Schema at version 3 (applied 1, 2, 3).\n")
    assert run_cli("db", "upgrade") == (0, "Schema at version 3 (nothing to apply).\n")
    page = tmp_path / "harbour.txt"
    page.write_text("Harbour Vote\n\nThe council of Harbour Town voted to lease its disused docks.\n", "utf-8")
    server = "1161234567890123456"  # a real snowflake: 64 bits
    assert run_cli("docs", "add", "--server", server, str(page))[0] == 0
    code, text = run_cli("ask", "--server", server, "what did the council lease?")
    assert code == 0 and "disused docks" in text
    assert not (cli_env / "servers").exists()  # INDEX_DIR holds only the local mirror
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "another-machine"))
    code, text = run_cli("docs", "list", "--server", server)
    assert code == 0 and "Harbour Vote" in text  # another process, another disk: the same library
    # A fresh database answers from the default library at the first question, with no set-up step.
    code, text = run_cli("ask", "why did relations rupture?")
    assert code == 0 and "ruptured in 2018" in text


def test_db_upgrade_without_database_url_says_so(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err


def test_an_embedded_deployment_moves_into_postgres_whole_and_again_changes_nothing(
    cli_env: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from citebot.bot.postgres_conversations import PostgresConversationStore
    from citebot.bot.sqlite_conversations import SqliteConversationStore
    from citebot.index.answer import Answer, Citation

    page = tmp_path / "harbour.txt"
    page.write_text("Harbour Vote\n\nThe council of Harbour Town voted to lease its disused docks.\n", "utf-8")
    assert run_cli("docs", "add", "--server", "5", str(page))[0] == 0
    sqlite = SqliteConversationStore(cli_env)
    citation = Citation(1, 1, "body", "The council voted.", 1.0, "Harbour Vote", None, "abc", 1, 0)
    sqlite.record(
        message_id=77,
        server_id=5,
        channel_id=9,
        member_id=555,
        answer=Answer("why?", "", False, (citation,), None, 1.0),
    )
    sqlite.vote(message_id=77, server_id=5, member_id=555, vote=-1)
    sqlite.set_ask_channel(5, 42)
    member = sqlite.member_hash(555)
    sqlite.close()
    before = {p: p.read_bytes() for p in cli_env.rglob("*") if p.is_file()}

    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "fleet-machine"))
    code, text = run_cli("db", "import", str(cli_env))
    assert code == 0 and "server-5: 1 documents" in text and "copied" in text
    assert "exchanges: 1 in conversations.sqlite3, 1 in the database" in text
    code, again = run_cli("db", "import", str(cli_env))
    assert code == 0 and "already there" in again and "votes: 1 in conversations.sqlite3, 1 in the database" in again
    assert {p: p.read_bytes() for p in cli_env.rglob("*") if p.is_file()} == before  # the folder is untouched

    code, answer = run_cli("ask", "--server", "5", "what did the council lease?")
    assert code == 0 and "disused docks" in answer
    shared = PostgresConversationStore(postgres_dsn)
    assert shared.exchange(77) is not None and shared.member_hash(555) == member  # the same salt
    assert shared.config(5).ask_channel == 42 and shared.asked_since(5, 0)[0].downvotes == 1
    shared.close()
