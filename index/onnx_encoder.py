"""A torch-free query encoder: the sentence-transformers model exported to ONNX at index time.

Importing sentence-transformers (and torch) takes seconds; onnxruntime and tokenizers start in a
fraction of that. The export is kept in INDEX_DIR/encoders/<model>/ and used only when its
vectors were checked to agree with sentence-transformers' own to 1e-5.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .embed import EncodeProgress
from .store import sha256_file

log = logging.getLogger(__name__)

AGREEMENT_TOLERANCE = 1e-5
ENCODER_FILES = ("model.onnx", "tokenizer.json")
CHECK_TEXTS = (
    "why did relations rupture?",
    "Diplomatic relations between the two nations ruptured in 2018.",
    "wht happend to the two canadian citizens",
    "x",
    "A much longer sentence that runs on, with commas, numbers like 2026 and names like Xi Jinping, to test padding.",
)


def encoder_dir(index_dir: Path, model_id: str) -> Path:
    return index_dir / "encoders" / hashlib.sha256(model_id.encode()).hexdigest()[:16]


class OnnxEmbedder:
    """Mean/CLS-pooled, optionally normalised transformer outputs from onnxruntime."""

    def __init__(self, directory: Path, *, threads: int = 0) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        spec = json.loads((directory / "encoder.json").read_text("utf-8"))
        self._model_id: str = spec["model"]
        self._dimension: int = int(spec["dimension"])
        self._pooling: str = spec["pooling"]
        self._normalize: bool = bool(spec["normalize"])
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(spec["max_seq_length"]))
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(
            str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: EncodeProgress | None = None
    ) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        # Batches of similar length: each row is padded only to its batch's longest, not the corpus's.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            with self._lock:
                out[rows] = self._encode_batch([texts[i] for i in rows])
            if progress:
                progress(min(start + batch_size, len(texts)), len(texts))
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        if self._pooling == "cls":
            vectors = hidden[:, 0]
        else:
            vectors = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        if self._normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32)


def load_onnx_embedder(index_dir: Path, model_id: str, *, threads: int = 0) -> OnnxEmbedder | None:
    """The exported encoder for `model_id`, checked against its hashes and its dimension; None if
    there is none. A damaged export is removed, with a warning, so that it is made again. `threads`:
    ONNX Runtime's threads per encode (0: one per core)."""
    directory = encoder_dir(index_dir, model_id)
    if not (directory / "encoder.json").is_file():
        return None
    try:
        problem = _damage(directory)
        embedder = None if problem else OnnxEmbedder(directory, threads=threads)
        if embedder is not None:
            probe = embedder.encode(["a probe sentence"])
            if probe.shape != (1, embedder.dimension) or not np.isfinite(probe).all():
                problem = f"it gives vectors of shape {probe.shape[1:]}, its spec says {embedder.dimension}"
    except Exception as exc:  # noqa: BLE001 - any load failure means the export is unusable
        problem, embedder = f"{type(exc).__name__}: {exc}", None
    if problem or embedder is None:
        log.warning("The ONNX query encoder is damaged (%s); removed, it is exported again.", problem)
        shutil.rmtree(directory, ignore_errors=True)
        return None
    if embedder.model_id != model_id:
        return None
    return embedder


def _damage(directory: Path) -> str | None:
    """Why an export's files do not match the hashes recorded at export, if they do not."""
    spec = json.loads((directory / "encoder.json").read_text("utf-8"))
    recorded = spec.get("files")
    if not isinstance(recorded, dict):
        return "it records no file hashes (made by an older citebot)"
    for name in ENCODER_FILES:
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if sha256_file(path) != recorded.get(name):
            return f"{name} does not match its hash"
    return None


def export_onnx(model: Any, model_id: str, index_dir: Path) -> Path | None:
    """Export a loaded SentenceTransformer to ONNX, keep it only if its vectors agree to 1e-5.

    Supports the common Transformer → Pooling(mean|cls) → [Normalize] pipeline; for anything else
    it returns None and queries keep using sentence-transformers.
    """
    target = encoder_dir(index_dir, model_id)
    if (target / "encoder.json").is_file():
        return target
    try:
        spec = _pipeline_spec(model, model_id)
    except ValueError as exc:
        log.info("No ONNX export for %s: %s", model_id, exc)
        return None
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir(parents=True)
    try:
        _export(model, tmp, spec)
        (tmp / "encoder.json").write_text(json.dumps(spec, indent=2), "utf-8")
        candidate = OnnxEmbedder(tmp)
        expected = model.encode(list(CHECK_TEXTS), normalize_embeddings=spec["normalize"], convert_to_numpy=True)
        difference = float(np.abs(candidate.encode(CHECK_TEXTS) - expected).max())
        if difference > AGREEMENT_TOLERANCE:
            raise ValueError(f"ONNX vectors differ by {difference:.2e} (> {AGREEMENT_TOLERANCE})")
        spec["max_abs_difference"] = difference
        # Hashed like the index files: a damaged export is noticed at load, never used silently.
        spec["files"] = {name: sha256_file(tmp / name) for name in ENCODER_FILES}
        (tmp / "encoder.json").write_text(json.dumps(spec, indent=2), "utf-8")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        log.info("Exported %s to ONNX (max difference %.1e).", model_id, difference)
        return target
    except Exception as exc:  # noqa: BLE001 - the export is an optimisation, never a failure
        log.warning("ONNX export of %s skipped: %s", model_id, exc)
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pipeline_spec(model: Any, model_id: str) -> dict[str, Any]:
    modules = list(model)
    names = [type(m).__name__ for m in modules]
    if len(names) < 2 or names[0] != "Transformer" or names[1] != "Pooling" or names[2:] not in ([], ["Normalize"]):
        raise ValueError(f"unsupported module pipeline {names}")
    pooling = modules[1]
    mode = getattr(pooling, "pooling_mode", None) or (
        "cls"
        if getattr(pooling, "pooling_mode_cls_token", False)
        else "mean"
        if getattr(pooling, "pooling_mode_mean_tokens", False)
        else None
    )
    if mode not in ("mean", "cls"):
        raise ValueError(f"unsupported pooling {mode!r}")
    tokenizer = modules[0].tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("the tokenizer has no tokenizer.json (not a fast tokenizer)")
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return {
        "model": model_id,
        "dimension": int(get_dim()),
        "pooling": mode,
        "normalize": names[2:] == ["Normalize"],
        "max_seq_length": int(model.max_seq_length or 512),
    }


def _export(model: Any, directory: Path, spec: dict[str, Any]) -> None:
    import torch

    transformer = model[0].auto_model.eval()
    tokenizer = model[0].tokenizer
    tokenizer.backend_tokenizer.save(str(directory / "tokenizer.json"))
    sample = tokenizer(["hello world", "a second, longer sample sentence"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class HiddenStates(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(names, tensors, strict=True))).last_hidden_state

    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    # Tracing warns about shape-dependent branches; the export is checked on varied lengths instead.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            HiddenStates(transformer),
            tuple(sample[n] for n in names),
            str(directory / "model.onnx"),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
