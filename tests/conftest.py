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


TEST_DATABASE_URL = os.environ.get("CITEBOT_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A connection string to a fresh, empty schema of the test PostgreSQL, dropped afterwards.

    Skips with the reason where no PostgreSQL answers; under CI=true that is a failure instead."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(TEST_DATABASE_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {TEST_DATABASE_URL} ({exc})".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI runs with PostgreSQL.")
        pytest.skip(reason)
    schema = f"citebot_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield psycopg.conninfo.make_conninfo(TEST_DATABASE_URL, options=f"-c search_path={schema}")
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def drop_connections(dsn: str, application_name: str) -> int:
    """End every server connection named `application_name`, as a database restart or an operator
    would; returns how many there were."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        (dropped,) = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    return int(dropped)
