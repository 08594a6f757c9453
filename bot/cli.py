"""The `citebot` command line: a thin skin over the engine and the Discord client."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from citebot.index.answer import Answer
from citebot.index.errors import CitebotError
from citebot.index.formats import strip_controls

from . import messages
from .messages import citation_label
from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from citebot.index.engine import Engine
    from citebot.index.evaluate import EvalOutcome, EvalReport
    from citebot.index.learn_rank import ArticleData
    from citebot.index.library import Library

log = logging.getLogger("citebot")


def render_plain(answer: Answer) -> str:
    """The terminal form of an answer: quotes with their citations, then the source."""
    source = answer.source
    if answer.abstained:
        titles = answer.searched_titles or ((source.title,) if source else ())
        return strip_controls(messages.not_answered(titles))
    several = len({c.document for c in answer.citations}) > 1 or source is None
    lines = [f"{c.text} [{citation_label(c, with_document=several)}]" for c in answer.citations]
    if answer.uncertain:
        lines.insert(0, messages.CLOSEST)
    elif answer.summary:
        lines.insert(0, messages.SUMMARY_HEADING)
    if source:
        byline = ", ".join(x for x in (f"“{source.title}”", source.author, source.date) if x)
        lines.append(f"— {byline}")
    return strip_controls("\n".join(lines))


def _engine(settings: Settings) -> Engine:
    from citebot.index.engine import Engine

    settings.apply_model_environment()
    return Engine(settings.engine_config(), store=settings.library_store())


def _progress_bar() -> Callable[[str, int, int], None]:
    """A terminal progress bar for the embedding stage, the only one that takes long."""
    from tqdm import tqdm

    bar: list[tqdm] = []

    def report(stage: str, done: int, total: int) -> None:
        if stage == "embedding":
            if not bar:
                print(f"citebot: building the index ({total} sentences)…", file=sys.stderr)
                bar.append(
                    tqdm(
                        total=total,
                        desc="embedding",
                        unit="sentence",
                        file=sys.stderr,
                        leave=False,
                        disable=not sys.stderr.isatty(),
                    )
                )
            bar[0].update(done - bar[0].n)
        elif stage == "done" and bar:
            bar[0].close()

    return report


def cmd_ask(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    library = _engine(settings).answering(args.server)
    library.loaded(progress=_progress_bar())
    if args.after:
        # A follow-up, as a reply to the answer of --after in Discord.
        context = library.answer(args.after).exchange()
        _write_answer(library.answer(args.question, context=context), args.json, out)
        return 0
    if args.question == "-":
        for line in sys.stdin:
            if not line.strip():
                continue
            out.write(json.dumps(_ask_json(library, line.rstrip("\n")), ensure_ascii=False) + "\n")
            out.flush()
        return 0
    if args.json:
        out.write(json.dumps(_ask_json(library, args.question), ensure_ascii=False) + "\n")
        return 0
    out.write(render_plain(library.answer(args.question)) + "\n")
    return 0


def _ask_json(library: Library, question: str) -> dict[str, Any]:
    try:
        return library.answer(question).to_json()
    except CitebotError as exc:
        return {
            "question": question,
            "answer": "",
            "abstained": True,
            "citations": [],
            "uncertain": False,
            "error": str(exc),
            "source": {"title": "", "author": None, "date": None},
            "timing_ms": {},
        }


def cmd_index_build(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from citebot.index.fetch import is_url
    from citebot.index.library import NewDocument

    engine = _engine(settings)
    library = engine.library(args.server)
    if any(is_url(p) for p in args.paths):
        documents = [NewDocument(*engine.read_source(source)) for source in args.paths]
        report = library.replace(documents, added_by="terminal", progress=_progress_bar())
    else:
        paths = [Path(p) for p in args.paths]
        report = library.build_from_files(paths, added_by="terminal", progress=_progress_bar())
    counts = report.manifest.counts
    out.write(
        f"Indexed “{report.title}”: {counts['body_paragraphs']} paragraphs, {counts['sentences']} sentences, "
        f"{report.manifest.index_type} index, in {report.seconds:.1f} s → {settings.index_dir}\n"
    )
    return 0


def cmd_docs_list(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    summary = _engine(settings).answering(args.server).describe()
    if args.json:
        out.write(json.dumps([dataclasses.asdict(d) for d in summary.documents], ensure_ascii=False) + "\n")
        return 0
    if summary.is_default and args.server is not None:
        out.write(messages.NO_OWN_DOCUMENTS + "\n")
    for d in summary.documents:
        facts = messages.document_facts(d.author, d.date, d.paragraphs)
        origin = messages.document_origin(
            messages.came_from(d.name, url=d.url, via=d.via, link=d.link), d.added_by, d.added_at
        )
        out.write(strip_controls(f"{d.key}  {d.title}\n              {facts}; {origin}\n"))
    return 0


def cmd_docs_add(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from citebot.index.library import NewDocument

    engine = _engine(settings)
    library = engine.library(args.server)
    for source in args.paths:
        document = NewDocument(*engine.read_source(source))
        report = library.add([document], added_by="terminal", progress=_progress_bar())
        out.write(messages.document_added(report.titles[-1], len(report.titles), report.seconds) + "\n")
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """What the bot would index from each file or URL: title, author, date, numbered paragraphs."""
    from citebot.index.documents import BODY
    from citebot.index.ingest import load_document

    engine = _engine(settings)  # reads sources only: no model is loaded
    for source in args.sources:
        name, data, _ = engine.read_source(source)
        document = load_document(name, data, split=False)
        meta = document.meta
        paragraphs = [p for p in document.paragraphs if p.part == BODY]
        if args.json:
            row = {
                "source": source,
                "title": meta.title,
                "author": meta.author,
                "date": meta.date,
                "paragraphs": [p.text for p in paragraphs],
                # The page each paragraph starts on (null where the document has no pages).
                "pages": [p.page for p in paragraphs],
                "dropped": len(document.dropped_lines),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            continue
        out.write(
            strip_controls(
                f"{source}\n  title:  {meta.title}\n  author: {meta.author or '—'}\n"
                f"  date:   {meta.date or '—'}\n  dropped {len(document.dropped_lines)} lines\n"
            )
        )
        for paragraph in paragraphs:
            out.write(strip_controls(f"  {paragraph.label}  {paragraph.text}") + "\n")
    return 0


def cmd_docs_remove(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    engine = _engine(settings)
    titles = {d.key: d.title for d in engine.answering(args.server).describe().documents}
    report = engine.library(args.server).remove(args.document, progress=_progress_bar())
    title = titles.get(args.document, args.document)
    if report is None:
        out.write(messages.last_document_removed(title) + "\n")
    else:
        out.write(messages.document_removed(title, len(report.titles)) + "\n")
    return 0


def cmd_index_info(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from citebot.index.library_store import library_key

    manifest = _engine(settings).store.manifest(library_key(args.server))
    if args.json:
        out.write(json.dumps(manifest.to_json(), indent=2) + "\n")
        return 0
    out.write(f"Index:    {settings.index_dir}\n")
    out.write(f"Model:    {manifest.model} ({manifest.dimension} dimensions, {manifest.index_type})\n")
    out.write(f"Built:    {manifest.built_at} in {manifest.build_seconds:.1f} s\n")
    out.write("Counts:   " + ", ".join(f"{k} {v}" for k, v in manifest.counts.items()) + "\n")
    for source in manifest.sources:
        out.write(f"Source:   {source.name} ({source.origin}, {source.bytes:,} bytes, sha256 {source.sha256[:12]}…)\n")
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from citebot.index.evaluate import calibrate, calibrate_sure, evaluate, is_squad_file, read_questions, score

    per_file: dict[str, list[EvalOutcome]] = {}  # each .jsonl set, and each article of a SQuAD file
    squad_keys: set[str] = set()
    library: Library | None = None  # the configured library, loaded once for every .jsonl set
    squad_files = [Path(name) for name in args.files if is_squad_file(Path(name))]
    if args.held_out:
        articles = _squad_outcomes_held_out(settings, squad_files)
    else:
        articles = {key: o for path in squad_files for key, o in _squad_outcomes(settings, path).items()}
    per_file.update(articles)
    squad_keys.update(articles)
    for name in args.files:
        path = Path(name)
        if is_squad_file(path):
            continue
        if library is None:
            library = _engine(settings).default
            library.loaded(progress=_progress_bar())
        per_file[name] = evaluate(read_questions(path), library.answer)[1]
    pooled = [o for outcomes in per_file.values() for o in outcomes]
    # Follow-ups are scored, but the thresholds are fitted on questions asked on their own.
    standalone = [o for o in pooled if o.question.after is None]
    # SQuAD's unanswerable questions are on the document's topic: they call for "uncertain", not for
    # an abstention, so only our own dev sets (with off-topic questions) set the abstention threshold.
    off_topic_sets = [
        o for name, outcomes in per_file.items() if name not in squad_keys for o in outcomes if o.question.after is None
    ]
    result: dict[str, Any] = {
        "report": score(pooled).to_json(),  # all files together
        "reports": {name: score(o).to_json() for name, o in per_file.items()},
    }
    if args.calibrate:
        policy = settings.engine_config().policy
        has_off_topic = any(not o.question.answerable for o in off_topic_sets)
        result["calibration"] = calibrate(off_topic_sets).__dict__ if has_off_topic else None
        result["sure_band"] = calibrate_sure(standalone, policy.sureness).__dict__
    if args.json:
        out.write(json.dumps(result, indent=2) + "\n")
        return 0
    for name, outcomes in per_file.items():
        if len(per_file) > 1:
            out.write(f"{name}\n")
        _write_report(score(outcomes), outcomes, out, misses=not squad_keys or len(per_file) == 1)
    if len(per_file) > 1:
        out.write("All together" + (" (each article held out)" if args.held_out else "") + "\n")
        _write_report(score(pooled), pooled, out, misses=False)
    if args.calibrate:
        c, band = result["calibration"], result["sure_band"]
        if c is not None:
            out.write(
                f"Calibrated: COVERAGE_WEIGHT={c['coverage_weight']} MIN_CONFIDENCE={c['min_confidence']} "
                f"(errors {c['errors']}, margin {c['margin']})\n"
            )
        out.write(
            f"Calibrated: SURE_ABOVE={band['sure_above']} (right first {band['precision']:.1%} above it, "
            f"{band['share_sure']:.1%} of answerable questions)\n"
        )
    return 0


def _write_report(report: EvalReport, outcomes: list[EvalOutcome], out: TextIO, *, misses: bool = True) -> None:
    out.write(
        f"Answerable: {report.answerable}  hit rate {report.hit_rate:.1%}  top-1 {report.top1_rate:.1%}  "
        f"false abstentions {report.false_abstentions}  mean quote {report.mean_quote_chars:.0f} chars\n"
        f"            confident {report.confident} (right first {report.confident_precision:.1%}), "
        f"uncertain {report.answerable_uncertain}\n"
    )
    if report.off_topic:
        out.write(
            f"Off-topic:  {report.off_topic}  abstained {report.off_topic_abstained} "
            f"({report.off_topic_abstention_rate:.1%}), abstained or uncertain {report.off_topic_flagged_rate:.1%}\n"
        )
    if report.follow_ups:
        out.write(
            f"Follow-ups: {report.follow_ups}  hit rate {report.follow_up_hit_rate:.1%} as replies "
            f"(asked on their own: {report.follow_up_alone_hit_rate:.1%})\n"
        )
    for outcome in outcomes if misses else ():
        wrong = (outcome.question.answerable and not outcome.hit) or (
            not outcome.question.answerable and not outcome.flagged
        )
        if wrong:
            quoted = outcome.answer.citations[0].text[:70] if outcome.answer.citations else "(abstained)"
            out.write(f"  miss: {outcome.question.question!r} -> {quoted}\n")


def _squad_outcomes(settings: Settings, path: Path) -> dict[str, list[EvalOutcome]]:
    """Each article indexed on its own, in a scratch index folder, and asked its questions."""
    from citebot.index.engine import Engine
    from citebot.index.evaluate import evaluate, read_squad

    settings.apply_model_environment()
    outcomes: dict[str, list[EvalOutcome]] = {}
    embedder = None
    for article in read_squad(path):
        with tempfile.TemporaryDirectory(prefix="citebot-eval-") as scratch:
            document = Path(scratch) / "article.txt"
            document.write_text(article.text, "utf-8")
            config = dataclasses.replace(
                settings.engine_config(), index_dir=Path(scratch) / "index", corpus_paths=(document,)
            )
            engine = Engine(config, embedder=embedder)
            embedder = engine.embedder
            engine.default.loaded(progress=_progress_bar())
            outcomes[f"{path.name}: {article.title}"] = evaluate(article.questions, engine.default.answer)[1]
            engine.close()
    return outcomes


def _training_articles(settings: Settings, paths: list[Path]) -> list[ArticleData]:
    """Every article of the SQuAD files, indexed on its own, with its questions' candidates read."""
    from citebot.index.embed import SentenceTransformerEmbedder
    from citebot.index.engine import Engine
    from citebot.index.evaluate import read_squad
    from citebot.index.learn_rank import read_article

    settings.apply_model_environment()
    embedder = SentenceTransformerEmbedder(settings.embedding_model)

    def engine_for(index_dir: Path, document: Path) -> Engine:
        # Questions go through the model itself: no ONNX export is made for a scratch library.
        config = dataclasses.replace(
            settings.engine_config(),
            index_dir=index_dir,
            corpus_paths=(document,),
            query_encoder="sentence-transformers",
        )
        return Engine(config, embedder=embedder)

    say = functools.partial(print, file=sys.stderr)
    return [read_article(article, engine_for, progress=say) for path in paths for article in read_squad(path)]


def _squad_outcomes_held_out(settings: Settings, paths: list[Path]) -> dict[str, list[EvalOutcome]]:
    """Each article answered with a ranking learned from the other articles only."""
    from citebot.index.learn_rank import held_out

    articles = _training_articles(settings, paths)
    return held_out(articles, settings.engine_config().policy, progress=functools.partial(print, file=sys.stderr))


def cmd_train_ranker(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Held-out figures (each article left out in turn), then the ranker trained on every article."""
    from citebot.index.evaluate import read_squad, score
    from citebot.index.learn_rank import held_out, train

    paths = [Path(f) for f in args.files]
    if sum(len(read_squad(path)) for path in paths) < 3:
        print("citebot: train on three articles or more, so that each is held out from two or more.", file=sys.stderr)
        return 2
    policy = settings.engine_config().policy
    articles = _training_articles(settings, paths)
    per_article = held_out(
        articles, policy, precision=args.precision, progress=functools.partial(print, file=sys.stderr)
    )
    pooled = [o for outcomes in per_article.values() for o in outcomes]
    ranker = train(articles, policy, precision=args.precision)
    pooled_report = score(pooled)
    ranker.trained["held_out"] = {
        "pooled": pooled_report.to_json(),
        "articles": {title: score(o).to_json() for title, o in per_article.items()},
    }
    target = Path(args.out)
    target.write_text(json.dumps(ranker.to_json(), indent=2) + "\n", "utf-8")
    if args.json:
        out.write(json.dumps(ranker.trained, indent=2) + "\n")
        return 0
    for title, outcomes in per_article.items():
        out.write(f"{title} (held out)\n")
        _write_report(score(outcomes), outcomes, out, misses=False)
    out.write("All together, each article held out\n")
    _write_report(pooled_report, pooled, out, misses=False)
    out.write(f"Wrote {target}: trained on {len(articles)} articles, sure above {ranker.sure_above}.\n")
    return 0


def cmd_summary(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    library = _engine(settings).answering(args.server)
    library.loaded(progress=_progress_bar())
    _write_answer(library.summarise(document=args.document), args.json, out)
    return 0


def _write_answer(answer: Answer, as_json: bool, out: TextIO) -> None:
    out.write((json.dumps(answer.to_json(), ensure_ascii=False) if as_json else render_plain(answer)) + "\n")


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Bring the shared database's schema up to date (the bot also does it at start-up)."""
    if not settings.database_url:
        print("citebot: DATABASE_URL is not set; the embedded mode keeps its data in files.", file=sys.stderr)
        return 2
    import psycopg

    from citebot.index.database import schema_version, upgrade

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        applied = upgrade(conn)
        version = schema_version(conn)
    done = f"applied {', '.join(map(str, applied))}" if applied else "nothing to apply"
    out.write(f"Schema at version {version} ({done}).\n")
    return 0


def cmd_db_import(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Copy an embedded deployment (its INDEX_DIR) into DATABASE_URL; the folder stays as it was."""
    if not settings.database_url:
        print("citebot: set DATABASE_URL to the database to import into.", file=sys.stderr)
        return 2
    from citebot.index.file_store import FileLibraryStore
    from citebot.index.postgres_store import PostgresLibraryStore
    from citebot.index.store import UNITS

    from .postgres_conversations import PostgresConversationStore
    from .sqlite_conversations import FILE_NAME

    folder = Path(args.index_dir).expanduser()
    embedded = FileLibraryStore(folder)
    shared = settings.library_store()
    assert isinstance(shared, PostgresLibraryStore)
    keys = embedded.library_keys()
    if not keys and not (folder / FILE_NAME).is_file():
        print(f"citebot: {folder} holds no library and no conversations to import.", file=sys.stderr)
        return 2
    for key in keys:
        imported = shared.import_library(embedded, key)
        back = shared.read(key)  # read back, every file checked against its manifest
        same = back.manifest.files[UNITS]["sha256"] == imported.units_sha256
        if not same or len(back.documents) != len(embedded.manifest(key).sources):
            print(f"citebot: {key} did not read back as it was imported.", file=sys.stderr)
            return 1
        verb = "copied" if imported.copied else "already there"
        out.write(f"{key}: {imported.documents} documents, units sha256 {imported.units_sha256[:12]}…, {verb}\n")
    if (folder / FILE_NAME).is_file():
        conversations = PostgresConversationStore(settings.database_url)
        try:
            counts = conversations.import_sqlite(folder / FILE_NAME)
        finally:
            conversations.close()
        for table, (in_file, in_database) in counts.items():
            out.write(f"{table}: {in_file} in {FILE_NAME}, {in_database} in the database\n")
    out.write(f"Imported {len(keys)} libraries from {folder}; it was not changed.\n")
    return 0


def cmd_insights(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    import time

    from .conversation_store import DAY
    from .insights_report import build_report

    store = settings.conversation_store()
    try:
        if args.forget:
            out.write(messages.forgotten(store.forget_server(args.server)) + "\n")
            return 0
        report = build_report(store.asked_since(args.server, time.time() - args.days * DAY), args.days)
    finally:
        store.close()
    if args.json:
        out.write(json.dumps(dataclasses.asdict(report), ensure_ascii=False) + "\n")
        return 0
    out.write(
        f"Last {report.days} days: {report.asked} asked, {report.answered_share:.0%} answered ({report.answered}), "
        f"{report.uncertain} with the closest passage only, {report.abstained} not answered\n"
    )
    for question, count in report.unanswered:
        out.write(strip_controls(f"  not answered {count}×: {question}\n"))
    for question, down, up in report.downvoted:
        out.write(strip_controls(f"  rated 👎 {down} · 👍 {up}: {question}\n"))
    return 0


def cmd_settings(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from .settings import env_example, settings_markdown

    out.write(settings_markdown() if args.markdown else env_example())
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Run the fleet's library builds until SIGINT or SIGTERM; never connects to Discord."""
    if not settings.database_url:
        print("citebot: a worker takes its builds from DATABASE_URL, which is not set.", file=sys.stderr)
        return 2
    import signal
    import threading

    from citebot.index.build_process import ChildSpec, build_model_builder
    from citebot.index.build_queue import BuildWorker, queue_depth
    from citebot.index.postgres_store import PostgresLibraryStore

    from .metrics import WorkerMetrics, serve_worker_health

    settings.apply_model_environment()
    store = settings.library_store()
    assert isinstance(store, PostgresLibraryStore)
    options = settings.engine_config().build_options
    spec = ChildSpec(settings.embedding_model, settings.index_dir, options, settings.query_encoder)
    metrics = WorkerMetrics(lambda: queue_depth(store))
    worker = BuildWorker(store, lambda: build_model_builder(spec), observe=metrics.built)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    health = None
    if settings.metrics_port is not None:
        health = serve_worker_health(settings.metrics_host, settings.metrics_port, metrics, lambda: worker.connected)
    log.info("citebot worker: waiting for builds (%s).", worker.name)
    try:
        worker.serve(stop)
    finally:
        if health is not None:
            health.shutdown()
        store.close()
    log.info("citebot worker stopped after %d builds.", worker.built)
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from .client import run_bot

    return run_bot(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citebot", description="Answer questions about an article with cited quotes.")
    parser.add_argument("--env-file", default=".env", help="settings file to read (default: .env)")
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer one question (or '-' for one per stdin line, as JSON)")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--server", type=int, help="answer from this server's library (default: the default library)")
    ask.add_argument("--after", metavar="QUESTION", help="ask as a follow-up to the answer of QUESTION")
    ask.set_defaults(handler=cmd_ask)

    summary = sub.add_parser("summary", help="a document's summary in its own words (default: each document)")
    summary.add_argument("--server", type=int, help="this server's library (default: the default library)")
    summary.add_argument("--document", metavar="KEY", help="one document (its key from `citebot docs list`)")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(handler=cmd_summary)

    insights = sub.add_parser("insights", help="what members of a server asked, as /insights shows it")
    insights.add_argument("--server", type=int, required=True)
    insights.add_argument("--days", type=int, choices=(7, 30), default=7)
    insights.add_argument("--forget", action="store_true", help="delete the server's stored questions and votes")
    insights.add_argument("--json", action="store_true")
    insights.set_defaults(handler=cmd_insights)

    db = sub.add_parser("db", help="the shared PostgreSQL database of DATABASE_URL")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the schema migrations it lacks").set_defaults(handler=cmd_db_upgrade)
    imports = db_sub.add_parser("import", help="copy an embedded INDEX_DIR (libraries, questions) into it")
    imports.add_argument("index_dir", metavar="INDEX_DIR")
    imports.set_defaults(handler=cmd_db_import)

    index = sub.add_parser("index", help="build or inspect the index")
    index_sub = index.add_subparsers(dest="index_command", required=True)
    build = index_sub.add_parser("build", help="(re)build the index from the configured corpus or PATHs")
    build.add_argument("paths", nargs="*")
    build.add_argument("--server", type=int, help="build this server's library from PATHs")
    build.set_defaults(handler=cmd_index_build)
    info = index_sub.add_parser("info", help="show what the index holds")
    info.add_argument("--json", action="store_true")
    info.add_argument("--server", type=int, help="a server's library (default: the default library)")
    info.set_defaults(handler=cmd_index_info)

    docs = sub.add_parser("docs", help="list, add or remove the documents of a library")
    docs_sub = docs.add_subparsers(dest="docs_command", required=True)
    for name, handler, helptext in (
        ("list", cmd_docs_list, "the documents of a library, with their keys"),
        ("add", cmd_docs_add, "add documents, files or http(s) URLs (only the new ones are embedded)"),
        ("remove", cmd_docs_remove, "remove one document by its key (from `docs list`)"),
    ):
        command = docs_sub.add_parser(name, help=helptext)
        command.add_argument("--server", type=int, help="a server's library (default: the default library)")
        if name == "add":
            command.add_argument("paths", nargs="+")
        elif name == "remove":
            command.add_argument("document", help="the document's key")
        else:
            command.add_argument("--json", action="store_true")
        command.set_defaults(handler=handler)

    ingest = sub.add_parser("ingest", help="show what would be indexed from files or URLs")
    ingest.add_argument("sources", nargs="+", metavar="SOURCE", help="a file, or an http(s) URL")
    ingest.add_argument("--json", action="store_true", help="one JSON object per source per line")
    ingest.set_defaults(handler=cmd_ingest)

    ev = sub.add_parser("eval", help="score the engine on a JSONL question set or a SQuAD-format JSON file")
    ev.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a .jsonl dev set over the library, or a SQuAD .json file (indexed on its own)",
    )
    ev.add_argument("--calibrate", action="store_true", help="also fit the abstention and sureness thresholds")
    ev.add_argument(
        "--held-out",
        action="store_true",
        help="answer each SQuAD article with a ranking learned from the other articles only",
    )
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(handler=cmd_eval)

    from citebot.index.ranking import SHIPPED

    tr = sub.add_parser(
        "train-ranker", help="learn the ranking and sureness from SQuAD files; print held-out figures per article"
    )
    tr.add_argument("files", nargs="+", metavar="FILE", help="SQuAD-format .json files (three articles or more)")
    tr.add_argument("--out", default=str(SHIPPED), help="where to write the ranker (default: the shipped one)")
    tr.add_argument("--precision", type=float, default=0.955, help="how often sure answers must be right first")
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(handler=cmd_train_ranker)

    shown = sub.add_parser(
        "settings", help="print every setting: .env.example (default) or the table in docs/settings.md"
    )
    shown.add_argument("--markdown", action="store_true", help="the table in docs/settings.md")
    shown.add_argument("--env-example", action="store_true", help=".env.example (the default)")
    shown.set_defaults(handler=cmd_settings)

    worker = sub.add_parser("worker", help="run library builds for a fleet (needs DATABASE_URL; no Discord)")
    worker.set_defaults(handler=cmd_worker)

    run = sub.add_parser("run", help="run the Discord bot (needs DISCORD_TOKEN)")
    run.set_defaults(handler=cmd_run)
    return parser


def configure_logging(settings: Settings) -> None:
    """Our own loggers at the configured level; chatty libraries only from warnings up."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("citebot").setLevel(getattr(logging, settings.log_level, logging.INFO))
    # Some libraries (bm25s) set their own loggers to DEBUG on import; the handler keeps them quiet.
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: record.levelno >= logging.WARNING or record.name.startswith("citebot"))


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        settings = Settings.from_env(env_file=args.env_file)
    except SettingsError as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 2
    if args.command != "run":  # the bot sets up discord.py's logging itself
        configure_logging(settings)
    try:
        return int(args.handler(settings, args, out))
    except CitebotError as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
