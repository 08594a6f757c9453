from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from citebot.bot.settings import PACKAGE_CORPUS
from citebot.index.engine import Engine, EngineConfig

from .fakes import HashingEmbedder
from .web_site import serving

DATA = Path(__file__).parent / "data"
ARTICLE = PACKAGE_CORPUS
ARTICLE_TEXT = ARTICLE.read_text("utf-8")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that load the real model or drive the loopback Discord are slow: `-m "not slow"` skips them."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"real_embedder", "real_engine", "make_engine", "bot"} or "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.slow)


def engine_config(index_dir: Path, *corpus: Path, **overrides) -> EngineConfig:
    model = overrides.pop("model", "test/hashing-embedder")
    return EngineConfig(index_dir=index_dir, corpus_paths=tuple(corpus) or (ARTICLE,), model=model, **overrides)


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """A small web site on 127.0.0.1 (tests/web_site.py) for the URL tests."""
    with serving() as base:
        yield base


@pytest.fixture
def fake_engine(tmp_path: Path) -> Engine:
    """An engine over the article with the hashing embedder, in a fresh index directory."""
    return Engine(engine_config(tmp_path / "index"), embedder=HashingEmbedder())


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once for the whole run."""
    from citebot.index.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def real_engine(real_embedder, tmp_path_factory) -> Engine:
    """An engine over the article with the real model; its index is built once per run."""
    index_dir = tmp_path_factory.mktemp("real-index")
    engine = Engine(EngineConfig(index_dir=index_dir, corpus_paths=(ARTICLE,)), embedder=real_embedder)
    engine.default.loaded()
    return engine
