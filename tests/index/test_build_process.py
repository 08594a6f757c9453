"""Builds in a spawned child process: the same index, progress over the pipe, a killed build is harmless."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from citebot.index import errors
from citebot.index.build_process import ChildBuilds, ChildSpec, received_error, send_error
from citebot.index.embed import DEFAULT_MODEL
from citebot.index.engine import Engine, EngineConfig
from citebot.index.errors import BuildCrashed, BuildInProgress, DocumentRejected
from citebot.index.library import NewDocument
from citebot.index.library_store import DEFAULT_KEY, library_key

from ..conftest import ARTICLE
from .test_library import leftovers

HARBOUR = b"Harbour Vote\n\nBy Ann Author\n\nThe council of Harbour Town voted to lease its disused docks.\n"
# Long enough to embed for a few seconds: time to kill the build or pass its budget.
BIG = ("Shipments\n\n" + "\n\n".join(f"Shipment {i} reached quay {i % 7} on day {i}." for i in range(3000))).encode()
SERVER = 7


@pytest.fixture
def child_engine(tmp_path: Path, real_engine: Engine):
    """An engine whose builds run in a child process (the parent holds the default library only)."""
    config = EngineConfig(index_dir=tmp_path / "index", corpus_paths=(ARTICLE,), query_encoder="sentence-transformers")
    engine = Engine(config, embedder=real_engine.embedder)
    runner = ChildBuilds(
        ChildSpec(DEFAULT_MODEL, config.index_dir, engine.build_options, "sentence-transformers"), linger=0.5
    )
    engine.build_runner = runner
    yield engine, runner
    engine.close()


def test_a_child_build_is_loaded_by_the_parent_and_the_child_exits_when_idle(child_engine) -> None:
    engine, runner = child_engine
    stages: list[str] = []
    report = engine.library(SERVER).add(
        [NewDocument("harbour.txt", HARBOUR)], progress=lambda stage, *_: stages.append(stage)
    )
    assert report.titles == ("Harbour Vote",) and {"parsing", "embedding", "relating", "writing"} <= set(stages)
    assert "disused docks" in engine.answering(SERVER).answer("what did the council lease?").answer
    for _ in range(100):
        if not runner.pids:
            break
        time.sleep(0.05)
    assert runner.pids == []  # its memory went back to the system


def test_errors_in_the_child_reach_the_parent_as_themselves(child_engine) -> None:
    engine, _ = child_engine
    with pytest.raises(DocumentRejected, match="No article text"):
        engine.build_runner(engine.store, "server-9", [], None, timeout=60)


def test_a_killed_build_leaves_the_old_library_serving(child_engine) -> None:
    engine, runner = child_engine
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    embedding = threading.Event()
    failure: list[BaseException] = []

    def add_big() -> None:
        try:
            engine.library(SERVER).add(
                [NewDocument("big.txt", BIG)], progress=lambda stage, *_: stage == "embedding" and embedding.set()
            )
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            failure.append(exc)

    worker = threading.Thread(target=add_big)
    worker.start()
    assert embedding.wait(60)
    (pid,) = runner.pids
    os.kill(pid, signal.SIGKILL)
    worker.join(30)
    assert failure and isinstance(failure[0], BuildCrashed)
    assert leftovers(engine, SERVER) == []  # its upload and anything it wrote went with it
    assert engine.answering(SERVER).describe().titles == ("Harbour Vote",)
    assert "disused docks" in engine.answering(SERVER).answer("what did the council lease?").answer
    report = engine.library(SERVER).add([NewDocument("bakery.txt", b"Bakery Opens\n\nThe bakery sells rye bread.\n")])
    assert report.titles == ("Harbour Vote", "Bakery Opens")  # the next build works


def test_a_child_build_past_its_budget_is_stopped(child_engine) -> None:
    from citebot.index.errors import BuildTimedOut

    engine, runner = child_engine
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    engine.config = EngineConfig(**{**engine.config.__dict__, "build_timeout_seconds": 1.0})
    with pytest.raises(BuildTimedOut):
        engine.library(SERVER).add([NewDocument("big.txt", BIG)])
    assert runner.pids == []  # the build process was ended
    assert leftovers(engine, SERVER) == []
    assert engine.answering(SERVER).describe().titles == ("Harbour Vote",)


def test_a_change_refused_while_a_terminal_holds_the_library_leaves_that_upload(child_engine) -> None:
    engine, _ = child_engine
    engine.library(SERVER).add([NewDocument("harbour.txt", HARBOUR)])
    key = library_key(SERVER)
    with engine.store.locked(key, "citebot docs add in a terminal"):
        theirs = engine.store.keep_source(key, "bakery.txt", b"Bakery Opens\n\nThe bakery sells rye bread.\n")
        with pytest.raises(BuildInProgress, match="in a terminal"):
            engine.library(SERVER).add([NewDocument("big.txt", BIG)])
        assert theirs.exists()


def _send_each_error(conn: Connection, names: list[str]) -> None:
    """In a spawned process: send each error as a failed build does."""
    for name in names:
        send_error(conn, getattr(errors, name)(f"the message of {name}"))
    conn.close()


def test_every_engine_error_crosses_the_process_boundary_as_itself() -> None:
    names = sorted(
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.CitebotError)
    )
    assert {"BuildInProgress", "DiskFull", "DocumentRejected", "LibraryFull", "UrlRefused"} <= set(names)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_send_each_error, args=(child, names))
    process.start()
    child.close()
    for name in names:
        error = received_error(parent.recv())
        assert type(error) is getattr(errors, name) and str(error) == f"the message of {name}"
    process.join(30)


def test_an_error_from_outside_citebot_arrives_as_a_plain_citebot_error() -> None:
    error = received_error(("error", "builtins", "ValueError", "boom"))
    assert type(error) is errors.CitebotError and str(error) == "boom"


def test_a_process_whose_builds_run_elsewhere_has_the_model_exported_there(tmp_path: Path, real_engine: Engine) -> None:
    """A fleet's bot process meets a library it did not build: the ONNX export for its questions is
    made in a child process, and the model (torch) is never loaded in this one."""
    from citebot.index.embed import SentenceTransformerEmbedder
    from citebot.index.file_store import FileLibraryStore
    from citebot.index.onnx_encoder import OnnxEmbedder

    index_dir = tmp_path / "index"
    shutil.copytree(
        FileLibraryStore(real_engine.config.index_dir).directory(DEFAULT_KEY),
        FileLibraryStore(index_dir).directory(DEFAULT_KEY),
    )  # published by another process: nothing was built here
    model = SentenceTransformerEmbedder()  # not loaded until something needs it
    engine = Engine(EngineConfig(index_dir=index_dir, corpus_paths=(ARTICLE,)), embedder=model)
    engine.build_runner = ChildBuilds(ChildSpec(DEFAULT_MODEL, index_dir, engine.build_options), linger=0.5)
    try:
        answer = engine.default.answer("why did relations rupture?")
    finally:
        engine.close()

    assert isinstance(engine.query_embedder, OnnxEmbedder)
    assert model._model is None  # the model was never loaded in this process
    assert "2018" in answer.answer
