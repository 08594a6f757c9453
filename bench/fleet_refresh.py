"""Two processes' engines sharing one PostgreSQL (DATABASE_URL): how long after one publishes a
change the other holds the new version, without anyone asking (LISTEN/NOTIFY, then a reload).

.venv/bin/python bench/fleet_refresh.py [--rounds 10] [--database postgresql://127.0.0.1:5432/test]

Each round adds a short document to a server library made of the packaged article; "publish" is
the add on machine 1 (embedding included), "seen" the time from the add's return until machine 2
holds the new version. The two engines run in one process with their own disks (mirrors); each
listens on its own connection, as separate processes do.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from common import report, summary_ms

from citebot.bot.settings import PACKAGE_CORPUS
from citebot.index.engine import Engine, EngineConfig
from citebot.index.library import NewDocument
from citebot.index.postgres_store import PostgresLibraryStore

SERVER = 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database", default="postgresql://127.0.0.1:5432/test")
    args = parser.parse_args()
    schema = f"citebot_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            dsn = psycopg.conninfo.make_conninfo(args.database, options=f"-c search_path={schema}")
            with tempfile.TemporaryDirectory() as tmp:
                published, seen = measure(dsn, Path(tmp), args.rounds)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    report(
        "fleet refresh",
        [
            ("publish (add, embed, commit) p50 (s)", summary_ms(published)["p50_ms"] / 1000, ""),
            ("seen by the other process p50 (ms)", summary_ms(seen)["p50_ms"], "target: within 1 s"),
            ("seen by the other process max (ms)", max(seen) * 1000, ""),
        ],
        {"rounds": len(seen), "publish": summary_ms(published), "seen": summary_ms(seen)},
    )


def measure(dsn: str, tmp: Path, rounds: int) -> tuple[list[float], list[float]]:
    stores = [PostgresLibraryStore(dsn, tmp / f"machine-{n}") for n in (1, 2)]
    stores[0].upgrade()
    config = EngineConfig(index_dir=tmp / "local", corpus_paths=(PACKAGE_CORPUS,))
    first = Engine(config, store=stores[0])
    second = Engine(config, embedder=first.embedder, store=stores[1])
    key = f"server-{SERVER}"
    first.library(SERVER).add([NewDocument("article.txt", PACKAGE_CORPUS.read_bytes())])
    second.answering(SERVER).loaded()
    second.watch_libraries()
    published: list[float] = []
    seen: list[float] = []
    try:
        for round_number in range(rounds):
            text = f"Note {round_number}\n\nThe harbour council met for the {round_number}th time on Tuesday.\n"
            started = time.perf_counter()
            report_ = first.library(SERVER).add([NewDocument(f"note-{round_number}.txt", text.encode())])
            done = time.perf_counter()
            published.append(done - started)
            wanted = report_.manifest.counts["documents"]
            while True:
                live = second.libraries.get(key)
                if live is not None and live.stored.manifest.counts["documents"] == wanted:
                    break
                if time.perf_counter() - done > 30:
                    raise RuntimeError("the other process never saw the change")
                time.sleep(0.002)
            seen.append(time.perf_counter() - done)
    finally:
        second.close()
        first.close()
    return published, seen


if __name__ == "__main__":
    main()
