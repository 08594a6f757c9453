"""What related terms cost a build: the library's words embedded and compared, beside embedding its sentences.

.venv/bin/python bench/related_terms.py [FILE ...]

Each file (default: the three dev documents) is read as a library of its own. For each it prints the
vocabulary size, the time to embed its sentences (what a build does anyway), to embed its words, and
to compare them, all with the same model in the same run; then the time of a second build of the
same words, which finds them in the word cache.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
import numpy as np
from common import report

from citebot.bot.settings import PACKAGE_CORPUS
from citebot.index.embed import SentenceTransformerEmbedder
from citebot.index.evaluate import read_squad
from citebot.index.ingest import load_document
from citebot.index.related import WordVectors, build_related_terms, related_terms, vocabulary


def library_text(path: Path) -> tuple[str, str]:
    if path.suffix == ".json":
        article = read_squad(path)[0]
        return article.title, article.text
    return path.name, path.read_text("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    files = args.files or [
        PACKAGE_CORPUS,
        common.ROOT / "tests/data/squad2-dev-normans.json",
        common.ROOT / "tests/data/python-statements.squad.json",
    ]
    embedder = SentenceTransformerEmbedder()
    embedder.encode(["warm up"])
    rows, figures = [], {}
    for path in files:
        name, text = library_text(path)
        sentences = [s.text for s in load_document(path.name, text.encode("utf-8")).sentences]
        t0 = time.perf_counter()
        embedder.encode(sentences)
        t1 = time.perf_counter()
        forms = vocabulary(sentences)
        words = sorted(set(forms.values()))
        vectors = dict(zip(words, embedder.encode(words, batch_size=256), strict=True))
        t2 = time.perf_counter()
        table = related_terms(list(forms), np.vstack([vectors[forms[t]] for t in forms]))
        t3 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            cache = WordVectors(Path(tmp) / "words.npz")
            cache.save(vectors)
            t4 = time.perf_counter()
            build_related_terms(sentences, embedder, cache)
            t5 = time.perf_counter()
        label = name[:40]
        rows += [
            (f"{label}: sentences / words / related", f"{len(sentences)} / {len(words)} / {len(table)}", ""),
            (f"{label}: embed sentences (s)", round(t1 - t0, 2), ""),
            (f"{label}: embed words (s)", round(t2 - t1, 2), f"{(t2 - t1) / (t1 - t0):.2f}x sentences"),
            (f"{label}: compare words (s)", round(t3 - t2, 2), ""),
            (f"{label}: rebuild, words cached (s)", round(t5 - t4, 2), ""),
        ]
        figures[label] = {
            "sentences": len(sentences),
            "words": len(words),
            "related": len(table),
            "embed_sentences_s": round(t1 - t0, 3),
            "embed_words_s": round(t2 - t1, 3),
            "compare_s": round(t3 - t2, 3),
            "cached_rebuild_s": round(t5 - t4, 3),
        }
    report("related terms at build time", rows, figures)


if __name__ == "__main__":
    main()
