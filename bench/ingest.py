"""Ingest time against input size for the shapes that used to be slow: linear, not quadratic.

.venv/bin/python bench/ingest.py [--sizes 100,500,1000,2000]

Each shape is ingested (decode, strip markup, clean, split into sentences) at each size in KB; the
table shows seconds and the time per MB, which stays flat when ingest is linear.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import common  # noqa: F401
from common import report

from citebot.index.ingest import load_document

WORDS = "the council voted to lease docks harbour wind turbine consortium mayor said on monday".split()


def sentences_one_line(size: int, rng: random.Random) -> tuple[str, bytes]:
    out, total = [], 0
    while total < size:
        sentence = " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + ". "
        out.append(sentence)
        total += len(sentence)
    return "line.txt", ("Harbour Report\n\n" + "".join(out)).encode()


def words_one_line(size: int, rng: random.Random) -> tuple[str, bytes]:
    words = []
    total = 0
    while total < size:
        word = rng.choice(WORDS)
        words.append(word)
        total += len(word) + 1
    return "words.txt", ("Harbour Report\n\n" + " ".join(words)).encode()


def one_word_paragraphs(size: int, rng: random.Random) -> tuple[str, bytes]:
    words = []
    total = 0
    while total < size:
        word = f"{rng.choice(WORDS).capitalize()}{len(words)}"  # distinct: repeated lines are dropped as furniture
        words.append(word)
        total += len(word) + 2
    return "paragraphs.txt", ("Harbour Report\n\n" + "\n\n".join(words)).encode()


def nested_html(size: int, rng: random.Random) -> tuple[str, bytes]:
    depth = max(1, size // 20)
    opening = "".join(f"<div>{rng.choice(WORDS)} " for _ in range(depth))
    html = f"<html><head><title>Harbour Report</title></head><body><h1>Harbour Report</h1>{opening}"
    html += "The council voted.</div>" + "</div>" * (depth - 1) + "</body></html>"
    return "nested.html", html.encode()


SHAPES: dict[str, Callable[[int, random.Random], tuple[str, bytes]]] = {
    "sentences in one line": sentences_one_line,
    "one line of words, no punctuation": words_one_line,
    "one-word paragraphs": one_word_paragraphs,
    "nested HTML elements": nested_html,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,500,1000,2000", help="sizes in KB")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, data = [], {}
    for shape, make in SHAPES.items():
        for kb in sizes:
            name, payload = make(kb * 1000, random.Random(kb))
            t0 = time.perf_counter()
            document = load_document(name, payload)
            seconds = time.perf_counter() - t0
            rows.append(
                (
                    f"{shape}, {kb} KB (s)",
                    round(seconds, 3),
                    f"{seconds / (len(payload) / 1e6):.2f} s/MB; {len(document.sentences)} units",
                )
            )
            data[f"{shape}|{kb}"] = {"seconds": seconds, "bytes": len(payload), "units": len(document.sentences)}
    report("ingest", rows, {"results": data, "target": "every shape up to 2 MB in <= 10 s"})


if __name__ == "__main__":
    main()
