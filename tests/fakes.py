"""A small deterministic embedder so index tests run fast and their scores can be reasoned about."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from citebot.index.lexical import stems, words


class HashingEmbedder:
    """Bag of stemmed words hashed into a fixed number of dimensions, L2-normalised."""

    def __init__(self, dimension: int = 64, model_id: str = "test/hashing-embedder") -> None:
        self._dimension = dimension
        self._model_id = model_id
        self.encoded_texts = 0

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress=None) -> np.ndarray:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for stem in stems(words(text)) or ["\u2400"]:
                bucket = int(hashlib.sha1(stem.encode()).hexdigest(), 16) % self._dimension
                out[row, bucket] += 1.0
            out[row] /= np.linalg.norm(out[row]) or 1.0
        self.encoded_texts += len(texts)
        if progress:
            progress(len(texts), len(texts))
        return out
