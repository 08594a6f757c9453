"""FAISS indexes over normalised vectors: exact inner product for small corpora, HNSW past a size."""

from __future__ import annotations

from typing import Any

import numpy as np

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def build_vector_index(matrix: np.ndarray, *, approximate_from: int) -> tuple[Any, str, dict[str, Any]]:
    """Index rows of `matrix` under ids 0..n-1; switch to HNSW at `approximate_from` rows or more."""
    import faiss

    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    n, dimension = matrix.shape
    ids = np.arange(n, dtype=np.int64)
    inner: Any
    if n >= approximate_from:
        inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
        kind, params = "hnsw", {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}
    else:
        inner = faiss.IndexFlatIP(dimension)
        kind, params = "flat", {}
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(matrix, ids)
    return index, kind, params


def stored_vectors(index: Any) -> np.ndarray:
    """Every vector of an index made by `build_vector_index`, in id order (its ids are 0..n-1)."""
    import faiss

    inner: Any = faiss.downcast_index(index.index)
    flat: Any = faiss.downcast_index(inner.storage) if isinstance(inner, faiss.IndexHNSW) else inner
    count, dimension = int(flat.ntotal), int(flat.d)
    view = faiss.rev_swig_ptr(flat.get_xb(), count * dimension)
    return np.array(view, dtype=np.float32).reshape(count, dimension)


def search(
    index: Any, queries: np.ndarray, k: int, *, span: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) for each query row, only ids in [span) when given; -1 where fewer exist."""
    import faiss

    k = max(1, min(k, int(index.ntotal)))
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    selector = faiss.IDSelectorRange(span[0], span[1]) if span is not None else None
    # faiss's bundled stubs predate its search parameters, so they are reached untyped.
    untyped: Any = faiss
    params = None
    if isinstance(inner, faiss.IndexHNSWFlat):
        params = untyped.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))
        if selector is not None:
            params.sel = selector
    elif selector is not None:
        params = untyped.SearchParameters(sel=selector)
    # IndexIDMap forwards search parameters (and the id selector, translated) to the wrapped index.
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if params is not None:
        return index.search(queries, k, params=params)
    return index.search(queries, k)


def limit_search_threads(threads: int) -> None:
    """FAISS's OpenMP threads, for the whole process (0 leaves its default: one per core).

    Set once where a serving process starts: searching one question's vector gains nothing from
    more threads, and idle OpenMP threads spinning beside another process's slow both down."""
    if threads > 0:
        import faiss

        faiss.omp_set_num_threads(threads)
