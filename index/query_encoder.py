"""What embeds questions: the ONNX export of the model when there is one, else the model itself.

The export is made next to the indexes (at index time, or here when it is missing or damaged), so
a bot whose builds run elsewhere answers without loading torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .embed import Embedder, SentenceTransformerEmbedder

log = logging.getLogger(__name__)


class QueryEncoder:
    """Chooses, loads and (when needed) makes the embedder that questions go through."""

    def __init__(
        self,
        model: Embedder,
        model_id: str,
        index_dir: Path,
        *,
        choice: str,
        has_index: Callable[[], bool],
        threads: int = 0,
        export_elsewhere: Callable[[], bool] = lambda: False,
    ) -> None:
        self.model = model
        self.model_id = model_id
        self.index_dir = index_dir
        self.choice = choice  # "auto" or "sentence-transformers"
        self._has_index = has_index
        self.threads = threads  # ONNX Runtime threads per question (0: one per core)
        # Exports in another process (a build child) when it can; True if it did.
        self._export_elsewhere = export_elsewhere
        self._chosen: Embedder | None = None

    @property
    def embedder(self) -> Embedder:
        if self._chosen is None:
            onnx = self._onnx()
            if onnx is None and self.exports and self._has_index():
                self.export()  # missing, or found damaged and removed: export it again, from the model
                onnx = self._onnx()
            if onnx is None and self.exports and self._has_index():
                log.warning(
                    "No ONNX export of %s (it could not be exported); questions are embedded with "
                    "sentence-transformers, which loads torch.",
                    self.model_id,
                )
            self._chosen = onnx or self.model
        return self._chosen

    @property
    def exports(self) -> bool:
        """Whether questions should go through an ONNX export of the model."""
        return self.choice != "sentence-transformers" and isinstance(self.model, SentenceTransformerEmbedder)

    def export(self) -> None:
        """Export the model to ONNX (when it is a sentence-transformers model and ONNX is wanted)."""
        if not self.exports or not isinstance(self.model, SentenceTransformerEmbedder):
            return
        if self._export_elsewhere():
            self.look_again()
            return
        from .onnx_encoder import export_onnx

        with self.model.exclusive() as model:
            exported = export_onnx(model, self.model_id, self.index_dir)
        if exported is not None:
            self.look_again()

    def look_again(self) -> None:
        """Use the export from the next question on, if one appeared since the model was chosen."""
        if self._chosen is self.model:
            self._chosen = None

    def _onnx(self) -> Embedder | None:
        if not self.exports:
            return None
        from .onnx_encoder import load_onnx_embedder

        return load_onnx_embedder(self.index_dir, self.model_id, threads=self.threads)
