"""Scale: build time, size on disk and in memory, query p50/p95 and recall@10 against exact search,
for 100k and 1M passages, through the engine's own `build_vector_index` (exact below
APPROX_INDEX_THRESHOLD, HNSW from it on).

Stand-in vectors: embedding 1M sentences takes hours on 2 cores, so the passages are built from
real model embeddings of 4,000 generated sentences: each passage is a random mix of two of them plus
Gaussian noise, renormalised. Neighbourhoods therefore follow real text's cluster structure (unlike
uniform random vectors, on which approximate indexes mean nothing). Queries are real embeddings of
500 other generated sentences.

    .venv/bin/python bench/scale.py [--sizes 100000,1000000] [--queries 500]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import common  # noqa: F401
import numpy as np
from common import report, summary_ms
from corpus import sentences

from citebot.index.embed import SentenceTransformerEmbedder
from citebot.index.vectors import HNSW_EF_SEARCH, build_vector_index, search


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def stand_in(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        m = min(step, n - start)
        a, b = rng.integers(0, len(base), m), rng.integers(0, len(base), m)
        w = rng.uniform(0.55, 0.95, (m, 1)).astype(np.float32)
        block = w * base[a] + (1 - w) * base[b] + rng.normal(0, 0.04, (m, base.shape[1])).astype(np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--threshold", type=int, default=200_000, help="APPROX_INDEX_THRESHOLD to apply")
    args = parser.parse_args()
    import faiss

    embedder = SentenceTransformerEmbedder()
    texts = sentences(4000 + args.queries, seed=3)
    vectors = embedder.encode(texts, batch_size=128)
    base, queries = vectors[:4000], vectors[4000:]
    rng = np.random.default_rng(0)
    rows, data = [], {}
    for size in [int(s) for s in args.sizes.split(",")]:
        passages = stand_in(base, size, rng)
        before = rss_mb()
        t0 = time.perf_counter()
        index, kind, params = build_vector_index(passages, approximate_from=args.threshold)
        build = time.perf_counter() - t0
        memory = rss_mb() - before
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "v.faiss"
            faiss.write_index(index, str(path))
            disk = path.stat().st_size / 2**20
        exact = passages @ queries.T  # ground truth by brute force
        truth = np.argsort(-exact, axis=0)[:10].T
        del exact
        for q in queries[:20]:
            search(index, q.reshape(1, -1), 10)
        times, found = [], []
        for q in queries:
            t = time.perf_counter()
            _, ids = search(index, q.reshape(1, -1), 10)
            times.append(time.perf_counter() - t)
            found.append(ids[0])
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
        lat = summary_ms(times)
        rows += [
            (f"{size:,} index", kind, str(params)),
            (f"{size:,} build (s)", round(build, 1), ""),
            (f"{size:,} disk (MB)", round(disk, 1), ""),
            (f"{size:,} memory (MB)", round(memory, 1), "RSS growth while building"),
            (f"{size:,} query p50 (ms)", lat["p50_ms"], f"p95 {lat['p95_ms']}; target p50 <= 10 at 1M"),
            (f"{size:,} recall@10", round(recall, 4), "target >= 0.95"),
        ]
        data[str(size)] = {
            "index": kind,
            "params": params,
            "build_s": build,
            "disk_mb": disk,
            "memory_mb": memory,
            "latency": lat,
            "recall_at_10": recall,
            "ef_search": HNSW_EF_SEARCH,
        }
        del index, passages
    report("scale", rows, data)


if __name__ == "__main__":
    main()
