"""Index build throughput for a ~2,000-paragraph corpus, beside bare batch encoding of the same
sentences with the same model, in the same run.

    .venv/bin/python bench/index_build.py [--paragraphs 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common  # noqa: F401
import numpy as np
from common import report
from corpus import article

from citebot.index.build import IndexBuilder, SourceFile
from citebot.index.engine import Engine, EngineConfig
from citebot.index.file_store import FileLibraryStore
from citebot.index.ingest import parse_document
from citebot.index.library_store import DEFAULT_KEY
from citebot.index.onnx_encoder import load_onnx_embedder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paragraphs", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "briefing.txt"
        source.write_text(article(args.paragraphs), "utf-8")
        engine = Engine(EngineConfig(index_dir=Path(tmp) / "index", corpus_paths=(source,)))
        small = Path(tmp) / "small.txt"
        small.write_text(article(5), "utf-8")
        engine.default.build_from_files([small])  # loads the model and makes the ONNX export once
        texts = [s.text for s in parse_document(source.read_text("utf-8")).sentences]

        def bare_encode() -> float:
            t0 = time.perf_counter()
            engine.embedder.encode(texts, batch_size=engine.config.batch_size)
            return time.perf_counter() - t0

        # Bare encoding before and after the build, so drift in machine speed hits both sides.
        before = bare_encode()
        t0 = time.perf_counter()
        built = engine.default.rebuild()
        build = time.perf_counter() - t0
        bare = (before + bare_encode()) / 2

        # The build a child process runs when an ONNX export exists: torch-free, batches sorted by
        # length. Same sentences, a fresh library, so nothing comes from the embedding cache.
        onnx = load_onnx_embedder(engine.config.index_dir, engine.config.model_id)
        assert onnx is not None, "the first build makes the ONNX export"
        onnx_builder = IndexBuilder(onnx, engine.build_options)
        t0 = time.perf_counter()
        elsewhere = FileLibraryStore(Path(tmp) / "onnx-library")
        onnx_built = onnx_builder.build(elsewhere, DEFAULT_KEY, [SourceFile(source, source.name, "configured")])
        onnx_build = time.perf_counter() - t0
        probe = texts[:300]
        agreement = float(np.abs(onnx.encode(probe) - engine.embedder.encode(probe)).max())

    paragraphs = built.manifest.counts["body_paragraphs"]
    report(
        "index build",
        [
            ("paragraphs", paragraphs, f"{len(texts)} sentences"),
            ("build (s)", round(build, 2), "parse + embed + FAISS + write + swap"),
            ("bare batch encode (s)", round(bare, 2), "same sentences, same model"),
            ("build paragraphs/s", round(paragraphs / build, 1), ""),
            ("bare paragraphs/s", round(paragraphs / bare, 1), ""),
            ("throughput ratio", round(bare / build, 3), "target >= 0.9"),
            ("ONNX build, sorted batches (s)", round(onnx_build, 2), "what a build process runs, torch-free"),
            ("ONNX build / sentence-transformers build", round(build / onnx_build, 3), "speed-up; target >= 1"),
            ("ONNX vs sentence-transformers, max |diff|", agreement, "300 sentences; target <= 1e-5"),
        ],
        {
            "paragraphs": paragraphs,
            "sentences": len(texts),
            "onnx_build_s": onnx_build,
            "onnx_speedup": build / onnx_build,
            "onnx_max_abs_diff": agreement,
            "onnx_sentences": onnx_built.manifest.counts["sentences"],
            "build_s": build,
            "bare_encode_s": bare,
            "ratio": bare / build,
        },
    )


if __name__ == "__main__":
    main()
