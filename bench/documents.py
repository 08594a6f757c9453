"""PDF extraction: candidate libraries on the same fixtures, a 300-page PDF, and answers from a PDF.

.venv/bin/python bench/documents.py [--squad FILE] [--pages 300]

1. Fixtures made from known text (the Normans article, tests/paged_documents.py) in four layouts:
   one column with a running header and page-number footer, two columns, indented paragraphs with
   no gaps and "- N -" footers, two columns with "Page N of 9". Each candidate is scored as
   extractors are scored: word-level F1 of what would be indexed against the known text, the share
   of known sentences found whole and in order, furniture lines kept, and time per page.
   Candidates: PDFium's, pdfminer.six's and pypdf's own text extraction, and citebot's layout
   rules (index/pdf.py) over PDFium's lines (what citebot ships) and over pdfminer.six's lines.
2. A PDF of at least `--pages` pages of distinct prose: time to read it (the capped child process)
   and to ingest it whole (paragraphs and sentences).
3. Each article of a SQuAD file indexed twice on its own, as .txt and as a two-column PDF with
   header and footer, and asked its questions: hit rate and top-1 of each (scored as
   `citebot eval` scores them).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import common
from common import report
from corpus import article

from citebot.index.documents import BODY
from citebot.index.ingest import load_document, parse_document
from citebot.index.pdf import TextLine, paragraphs_from_lines, read_pdf_here
from citebot.index.sentences import split_sentences
from tests.paged_documents import PdfLayout, latin1, make_pdf, sentences_in_order, word_f1

LAYOUTS = {
    "one column": PdfLayout(columns=1, header="The Normans: a reader", title="Normans"),
    "two columns": PdfLayout(columns=2, header="The Normans: a reader", title="Normans"),
    "indented, no gaps": PdfLayout(columns=1, paragraph_gap=0.0, indent=18.0, footer="- {page} -"),
    "two columns, page x of 9": PdfLayout(columns=2, header="Normans, a reader", footer="Page {page} of 9"),
}


def citebot_pdfium(data: bytes) -> str:
    plain = read_pdf_here(data)
    document = parse_document(plain.text, declared_title=plain.title, split=False, line_pages=plain.line_pages)
    return "\n".join(p.text for p in document.paragraphs if p.part == BODY)


def citebot_pdfminer(data: bytes) -> str:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer, LTTextLine

    lines: list[TextLine] = []
    for number, page in enumerate(extract_pages(io.BytesIO(data)), start=1):
        for element in page:
            if not isinstance(element, LTTextContainer):
                continue
            for line in element:
                if isinstance(line, LTTextLine) and line.get_text().strip():
                    x0, y0, x1, y1 = line.bbox
                    text = " ".join(line.get_text().split())
                    lines.append(TextLine(number, x0, page.height - y1, x1, page.height - y0, text))
    return "\n".join(p.text for p in paragraphs_from_lines(lines))


def pdfium_raw(data: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def pdfminer_raw(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return str(extract_text(io.BytesIO(data)))


def pypdf_raw(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


CANDIDATES: dict[str, Callable[[bytes], str]] = {
    "citebot rules on PDFium lines (shipped)": citebot_pdfium,
    "citebot rules on pdfminer.six lines": citebot_pdfminer,
    "PDFium get_text_range": pdfium_raw,
    "pdfminer.six extract_text": pdfminer_raw,
    "pypdf extract_text": pypdf_raw,
}


def squad_article(path: Path, index: int = 0) -> tuple[str, list[str], list[dict[str, object]]]:
    data = json.loads(path.read_text("utf-8"))["data"][index]
    paragraphs = [latin1(str(p["context"]).strip()) for p in data["paragraphs"]]
    return str(data["title"]).replace("_", " "), paragraphs, data["paragraphs"]


def extraction(paragraphs: list[str]) -> tuple[list[tuple[str, object, str]], dict[str, object]]:
    known = "\n".join(paragraphs)
    sentences = [s for p in paragraphs for s in split_sentences(p)]
    made = {name: make_pdf(paragraphs, layout) for name, layout in LAYOUTS.items()}
    rows: list[tuple[str, object, str]] = []
    results: dict[str, object] = {}
    for candidate, extract in CANDIDATES.items():
        f1s, orders, kept, per_page = [], [], 0, []
        for pdf in made.values():
            started = time.perf_counter()
            text = extract(pdf.data)
            per_page.append((time.perf_counter() - started) / pdf.pages)
            flat = " ".join(text.split())
            f1s.append(word_f1(flat, known))
            orders.append(sentences_in_order(flat, sentences))
            kept += sum(1 for line in set(pdf.furniture) if line in flat)
        results[candidate] = {
            "f1_mean": round(statistics.fmean(f1s), 4),
            "f1_min": round(min(f1s), 4),
            "sentences_in_order_mean": round(statistics.fmean(orders), 4),
            "sentences_in_order_min": round(min(orders), 4),
            "furniture_lines_kept": kept,
            "ms_per_page": round(1000 * statistics.fmean(per_page), 2),
        }
        rows.append(
            (
                candidate,
                round(statistics.fmean(f1s), 4),
                f"F1 min {min(f1s):.4f}; sentences whole and in order {statistics.fmean(orders):.3f} "
                f"(min {min(orders):.3f}); furniture lines kept {kept}; "
                f"{1000 * statistics.fmean(per_page):.1f} ms/page",
            )
        )
    return rows, {"layouts": list(LAYOUTS), "pages": {k: v.pages for k, v in made.items()}, "candidates": results}


def long_pdf(pages: int) -> tuple[list[tuple[str, object, str]], dict[str, object]]:
    paragraphs = [p for p in article(pages * 14).split("\n\n")[3:] if p.strip()]
    made = make_pdf(paragraphs, PdfLayout(columns=2, header="Generated Briefing", title="Generated Briefing"))
    started = time.perf_counter()
    load_document("long.pdf", made.data, split=False)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    document = load_document("long.pdf", made.data, split=True)
    whole_s = time.perf_counter() - started
    rows: list[tuple[str, object, str]] = [
        (f"{made.pages}-page PDF, read (child process)", round(read_s, 2), "s; what /docs add checks before a build"),
        (
            f"{made.pages}-page PDF, ingested with sentences",
            round(whole_s, 2),
            f"s; {len(document.paragraphs)} paragraphs, {len(document.sentences)} sentences; target ≤ 30 s",
        ),
    ]
    return rows, {
        "pages": made.pages,
        "bytes": len(made.data),
        "read_s": round(read_s, 2),
        "ingest_s": round(whole_s, 2),
        "paragraphs": len(document.paragraphs),
        "sentences": len(document.sentences),
    }


def answers(path: Path) -> tuple[list[tuple[str, object, str]], dict[str, object]]:
    from citebot.bot.settings import Settings
    from citebot.index.engine import Engine
    from citebot.index.evaluate import evaluate, read_squad, score

    settings = Settings(query_encoder="sentence-transformers")
    settings.apply_model_environment()
    embedder = None
    outcomes: dict[str, list[object]] = {"txt": [], "pdf": []}
    articles = read_squad(path)
    for number, squad in enumerate(articles):
        title, paragraphs, _ = squad_article(path, number)
        files = {
            "txt": ("article.txt", (latin1(title) + "\n\n" + "\n\n".join(paragraphs) + "\n").encode("utf-8")),
            "pdf": (
                "article.pdf",
                make_pdf(paragraphs, PdfLayout(columns=2, header=f"{latin1(title)}: a reader", title=title)).data,
            ),
        }
        for kind, (name, data) in files.items():
            with tempfile.TemporaryDirectory(prefix="citebot-bench-") as scratch:
                document = Path(scratch) / name
                document.write_bytes(data)
                config = dataclasses.replace(
                    settings.engine_config(), index_dir=Path(scratch) / "index", corpus_paths=(document,)
                )
                engine = Engine(config, embedder=embedder)
                embedder = engine.embedder
                engine.default.loaded()
                outcomes[kind].extend(evaluate(squad.questions, engine.default.answer)[1])
                engine.close()
    reports = {kind: score(found) for kind, found in outcomes.items()}  # type: ignore[arg-type]
    txt, pdf = reports["txt"], reports["pdf"]
    rows: list[tuple[str, object, str]] = [
        ("hit rate, as .txt", round(txt.hit_rate, 4), f"top-1 {txt.top1_rate:.4f}; {txt.answerable} questions"),
        ("hit rate, as two-column PDF", round(pdf.hit_rate, 4), f"top-1 {pdf.top1_rate:.4f}"),
        ("PDF − .txt, hit rate", round(pdf.hit_rate - txt.hit_rate, 4), "must not fall by more than 0.02"),
    ]
    return rows, {
        "file": path.name,
        "articles": len(articles),
        "txt": txt.to_json(),
        "pdf": pdf.to_json(),
        "hit_difference": round(pdf.hit_rate - txt.hit_rate, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--squad", type=Path, default=common.ROOT / "tests" / "data" / "squad2-dev-normans.json")
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--skip-answers", action="store_true", help="only extraction and the long PDF")
    args = parser.parse_args()
    _, paragraphs, _ = squad_article(common.ROOT / "tests" / "data" / "squad2-dev-normans.json")
    rows, data = extraction(paragraphs)
    more, long_data = long_pdf(args.pages)
    rows += more
    data["long_pdf"] = long_data
    if not args.skip_answers:
        more, answer_data = answers(args.squad)
        rows += more
        data["answers"] = answer_data
    report("documents", rows, data)


if __name__ == "__main__":
    main()
