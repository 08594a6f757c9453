"""Warm answer latency in one process, beside the bare encode + FAISS search of the same questions.

.venv/bin/python bench/warm_answer.py [--questions 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
from common import report, summary_ms

from citebot.bot.settings import PACKAGE_CORPUS
from citebot.index.engine import Engine, EngineConfig
from citebot.index.evaluate import read_questions
from citebot.index.vectors import search

PREFIXES = ["", "hey, ", "quick question: ", "can you tell me ", "so ", "pls "]


def questions(count: int) -> list[str]:
    base = [q.question for q in read_questions(common.ROOT / "tests/data/dev_questions.jsonl")]
    out = []
    i = 0
    while len(out) < count:
        out.append(PREFIXES[(i // len(base)) % len(PREFIXES)] + base[i % len(base)])
        i += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(EngineConfig(index_dir=Path(tmp), corpus_paths=(PACKAGE_CORPUS,)))
        engine.ensure_ready()
        encoder = engine.query_embedder
        stored = engine.loaded
        asked = questions(args.questions)
        for q in asked[:20]:  # warm up both paths
            engine.answer(q)
            search(stored.vectors, encoder.encode([q]), 40)
        answer_times, bare_times = [], []
        for q in asked:  # interleaved so both see the same machine state
            t0 = time.perf_counter()
            engine.answer(q)
            t1 = time.perf_counter()
            search(stored.vectors, encoder.encode([q]), 40)
            t2 = time.perf_counter()
            answer_times.append(t1 - t0)
            bare_times.append(t2 - t1)
    answer, bare = summary_ms(answer_times), summary_ms(bare_times)
    ratio = answer["p50_ms"] / bare["p50_ms"]
    report(
        "warm answer",
        [
            ("answer p50 (ms)", answer["p50_ms"], f"p95 {answer['p95_ms']}"),
            ("bare encode+search p50 (ms)", bare["p50_ms"], f"p95 {bare['p95_ms']}"),
            ("ratio p50", round(ratio, 3), "target <= 1.3"),
            ("ratio p95", round(answer["p95_ms"] / bare["p95_ms"], 3), ""),
            ("query encoder", type(encoder).__name__, ""),
        ],
        {"answer": answer, "bare": bare, "ratio_p50": ratio, "encoder": type(encoder).__name__},
    )


if __name__ == "__main__":
    main()
