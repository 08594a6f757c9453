"""Per-server libraries at scale: 1,000 servers with 3 small documents each.

.venv/bin/python bench/libraries.py [--servers 1000]

Prints: resident memory with every library touched, with the LRU budget at 1,000 and at 100
(each measured in a fresh process that embeds questions with the ONNX export, as the bot does);
the first answer from a library that is not in memory (load + answer); warm answers from a
3-document server library beside answers from the single default library, in the same run; and
adding one 5 KB document to a 50-document library beside the bare embedding of that document.
Documents are made of readable sentences (the packaged article's and generated ones), embedded by
the real model; nothing is a random vector.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
from common import percentile, report, summary_ms
from corpus import sentence

from citebot.bot.settings import PACKAGE_CORPUS
from citebot.index.engine import Engine, EngineConfig
from citebot.index.ingest import load_document
from citebot.index.library import NewDocument
from citebot.index.sentences import split_sentences

QUESTIONS = [
    "what did the council approve?",
    "why were the tariffs delayed?",
    "who criticised the budget?",
    "when was the treaty reviewed?",
    "what did farmers welcome?",
]


def article_sentences() -> list[str]:
    """The packaged article's body sentences, as ingest keeps them (its paywall lines are dropped)."""
    document = load_document(PACKAGE_CORPUS.name, PACKAGE_CORPUS.read_bytes())
    return [s.text for s in document.sentences if s.part == "body" and len(s.text.split()) > 6]


def small_document(rng: random.Random, real: list[str], number: int, paragraphs: int = 4) -> str:
    body = []
    for p in range(paragraphs):
        picked = [rng.choice(real), sentence(rng, number * 100 + p)]
        body.append(" ".join(picked))
    return f"Briefing {number}: Trade and Ports\n\nBy Bench Writer\n\n" + "\n\n".join(body) + "\n"


def sized_document(rng: random.Random, real: list[str], number: int, size: int = 5000) -> str:
    text = f"Report {number} on Harbours\n\n"
    while len(text) < size:
        text += " ".join(sentence(rng, number * 1000 + len(text) + k) for k in range(3)) + "\n\n"
    return text


def config(index_dir: Path, budget: int) -> EngineConfig:
    return EngineConfig(
        index_dir=index_dir,
        corpus_paths=(PACKAGE_CORPUS,),
        max_loaded_libraries=budget,
        max_documents_per_library=100,
        max_library_bytes=50_000_000,
    )


def build_servers(index_dir: Path, servers: int) -> float:
    rng = random.Random(5)
    real = article_sentences()
    engine = Engine(config(index_dir, 1))
    engine.default.loaded()  # the default library, and the ONNX export made once
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for server in range(1, servers + 1):
            paths = []
            for d in range(3):
                path = Path(tmp) / f"doc-{d}.txt"
                path.write_text(small_document(rng, real, server * 3 + d), "utf-8")
                paths.append(path)
            engine.library(server).build_from_files(paths, added_by="bench")
    return time.perf_counter() - started


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(index_dir: Path, servers: int, budget: int) -> dict[str, float | int | list[float] | bool]:
    """In a fresh process: touch every library once, then time answers from evicted libraries."""
    engine = Engine(config(index_dir, budget))
    engine.default.answer("why did relations rupture?")
    baseline = rss_mb()
    for server in range(1, servers + 1):
        engine.answering(server).answer(QUESTIONS[server % len(QUESTIONS)])
    touched = rss_mb()
    loaded = set(engine.libraries.loaded_keys())
    cold = [s for s in range(1, servers + 1) if f"server-{s}" not in loaded][:200]
    cold_times = []
    for server in cold:
        t0 = time.perf_counter()
        engine.answering(server).answer(QUESTIONS[server % len(QUESTIONS)])
        cold_times.append(time.perf_counter() - t0)
    # Warm: the same 3-document library again and again, beside the single default library.
    warm, single = [], []
    hot = servers
    for i in range(300):
        q = QUESTIONS[i % len(QUESTIONS)]
        t0 = time.perf_counter()
        engine.answering(hot).answer(q)
        t1 = time.perf_counter()
        engine.default.answer(q)
        t2 = time.perf_counter()
        warm.append(t1 - t0)
        single.append(t2 - t1)
    return {
        "budget": budget,
        "baseline_rss_mb": round(baseline, 1),
        "touched_rss_mb": round(touched, 1),
        "loaded": len(loaded),
        "cold": cold_times,
        "warm": warm,
        "single": single,
        "torch_imported": "torch" in sys.modules,
    }


def add_to_large_library(index_dir: Path) -> dict[str, float]:
    rng = random.Random(9)
    real = article_sentences()
    engine = Engine(config(index_dir, 10))
    server = 999_999
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for d in range(50):
            path = Path(tmp) / f"big-{d}.txt"
            path.write_text(sized_document(rng, real, d), "utf-8")
            paths.append(path)
        engine.library(server).build_from_files(paths, added_by="bench")
    ratios, adds, bares = [], [], []
    for extra in range(5):
        text = sized_document(rng, real, 100 + extra)
        sentences = [s for p in text.split("\n\n") for s in split_sentences(p.strip())]
        t0 = time.perf_counter()
        engine.embedder.encode(sentences, batch_size=engine.config.batch_size)
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        report_ = engine.library(server).add([NewDocument(f"extra-{extra}.txt", text.encode())], added_by="bench")
        added = time.perf_counter() - t0
        assert report_.embedded_sentences == len(sentences), (report_.embedded_sentences, len(sentences))
        ratios.append(added / bare)
        adds.append(added)
        bares.append(bare)
    return {
        "add_s_median": round(statistics.median(adds), 3),
        "bare_embed_s_median": round(statistics.median(bares), 3),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--only-add", action="store_true", help="only the 5 KB add to a 50-document library")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child), args.servers, args.budget)))
        return
    if args.only_add:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(add_to_large_library(Path(tmp) / "large")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "index"
        build_seconds = build_servers(index_dir, args.servers)
        runs = {}
        small_budget = min(100, max(2, args.servers // 10))
        for budget in (args.servers, small_budget):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(index_dir),
                    "--servers",
                    str(args.servers),
                    "--budget",
                    str(budget),
                ],
                check=True,
                capture_output=True,
                text=True,
                cwd=common.ROOT,
            ).stdout
            runs[budget] = json.loads(out.strip().splitlines()[-1])
        adding = add_to_large_library(Path(tmp) / "large")
    small = runs[small_budget]
    cold = summary_ms(small["cold"])
    warm, single = summary_ms(small["warm"]), summary_ms(small["single"])
    warm_ratio = percentile(small["warm"], 0.5) / percentile(small["single"], 0.5)
    rows = [
        ("servers x documents", f"{args.servers} x 3", f"built in {build_seconds:.0f} s"),
        (
            f"RSS, all touched, budget {args.servers} (MB)",
            runs[args.servers]["touched_rss_mb"],
            f"{runs[args.servers]['loaded']} loaded; {runs[args.servers]['baseline_rss_mb']} MB before",
        ),
        (
            f"RSS, all touched, budget {small_budget} (MB)",
            small["touched_rss_mb"],
            f"{small['loaded']} loaded; {small['baseline_rss_mb']} MB before",
        ),
        ("torch imported while answering", small["torch_imported"], ""),
        ("first answer, library not in memory p50 (ms)", cold["p50_ms"], f"p95 {cold['p95_ms']}; target <= 50"),
        ("warm answer, 3-doc server library p50 (ms)", warm["p50_ms"], f"p95 {warm['p95_ms']}"),
        ("warm answer, single default library p50 (ms)", single["p50_ms"], f"p95 {single['p95_ms']}"),
        ("warm ratio p50", round(warm_ratio, 3), "target <= 1.1"),
        ("add 5 KB to 50 docs (s, median of 5)", adding["add_s_median"], ""),
        ("bare embedding of that document (s)", adding["bare_embed_s_median"], ""),
        ("add / bare embedding, median", adding["ratio_median"], f"{adding['ratios']}; target <= 1.5"),
    ]
    report(
        "libraries",
        rows,
        {
            "servers": args.servers,
            "build_seconds": round(build_seconds, 1),
            "memory": {
                str(b): {k: v for k, v in r.items() if k not in ("cold", "warm", "single")} for b, r in runs.items()
            },
            "cold": cold,
            "warm": warm,
            "single": single,
            "warm_ratio_p50": warm_ratio,
            "add": adding,
        },
    )


if __name__ == "__main__":
    main()
