"""The fleet's figures, in one run against one PostgreSQL (a fresh schema, dropped afterwards).

.venv/bin/python bench/fleet.py [--libraries 10000] [--database postgresql://127.0.0.1:5432/test]

1. 10,000 small server libraries in the database: 20 are built with the packaged model (one short
   document each), and each is then stored again under 499 more server ids, row by row (versions
   and kept documents), as publishing would store them.
2. Cold load: a process with an empty INDEX_DIR loads 200 of them (download to its mirror, verify,
   open the FAISS index); p50 and p95.
3. Warm answer: the same library answered in the embedded mode (files) and in the fleet (a watching
   engine on PostgreSQL), questions interleaved; the ratio of p50s.
4. Publish → answered: one engine adds a document to a server's library; another (watching, as a
   bot process does) answers a question about it until the answer quotes it; p50 and p95 of the
   time from the publish's return.
5. Memory: a fresh process (an engine as a bot process holds it, questions through the ONNX export)
   loads 100 libraries and answers once from each; its peak RSS.
6. Throughput: questions answered per second by one process, then by two at once, each answering
   over the same 100 libraries for 15 s (the engine's answer path, no Discord); the ratio.
7. Connections: `SELECT 1` on a connection opened for it, against one borrowed from the pool the
   stores use (index/connections.py); p50 of each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import common
import psycopg
from common import peak_rss_mb, report, summary_ms

from citebot.bot.settings import PACKAGE_CORPUS, Settings
from citebot.index.connections import Connections
from citebot.index.engine import Engine, EngineConfig
from citebot.index.library import NewDocument
from citebot.index.library_store import library_key
from citebot.index.postgres_store import PostgresLibraryStore
from citebot.index.vectors import limit_search_threads

TEMPLATES = 20
QUESTIONS = [
    "What did the council vote on?",
    "When does the lease start?",
    "Who will run the yard?",
    "How long does the lease run?",
]


def small_document(n: int) -> NewDocument:
    text = (
        f"Harbour Town Council Meeting {n}\n\nBy Staff Writer {n}\n\n"
        f"The council of Harbour Town {n} voted on Monday to lease its disused docks to consortium {n}.\n\n"
        f"The lease runs for {n + 20} years and starts next spring, when the wind-power yard opens.\n\n"
        f"A committee of {n % 7 + 3} members will run the yard and report every quarter.\n"
    )
    return NewDocument(f"meeting-{n}.txt", text.encode())


def server(n: int) -> int:
    return (1 << 40) + n


def populate(dsn: str, tmp: Path, libraries: int) -> tuple[Engine, float]:
    """Build TEMPLATES libraries, then store copies up to `libraries`; returns the builder engine."""
    store = PostgresLibraryStore(dsn, tmp / "builder" / "mirror")
    store.upgrade()
    engine = Engine(EngineConfig(index_dir=tmp / "builder", corpus_paths=(PACKAGE_CORPUS,)), store=store)
    started = time.perf_counter()
    for n in range(TEMPLATES):
        engine.library(server(n)).add([small_document(n)])
    copies = libraries // TEMPLATES - 1
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        for n in range(TEMPLATES):
            key = library_key(server(n))
            for copy in range(1, copies + 1):
                target = library_key(server(n + copy * TEMPLATES))
                conn.execute(
                    "INSERT INTO library_versions (library, manifest, units, vectors, published_at) "
                    "SELECT %s, manifest, units, vectors, published_at FROM library_versions WHERE library = %s",
                    (target, key),
                )
                conn.execute(
                    "INSERT INTO libraries SELECT %s, max(version) FROM library_versions WHERE library = %s",
                    (target, target),
                )
                conn.execute(
                    "INSERT INTO library_sources SELECT %s, sha256, name, data, kept_at FROM library_sources "
                    "WHERE library = %s",
                    (target, key),
                )
        (count,) = conn.execute("SELECT count(*) FROM libraries").fetchone()
    print(f"stored {count} libraries in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return engine, float(count)


def cold_loads(dsn: str, tmp: Path, libraries: int, engine: Engine) -> list[float]:
    fresh = Engine(
        EngineConfig(index_dir=tmp / "builder", corpus_paths=(PACKAGE_CORPUS,)),
        embedder=engine.embedder,
        store=PostgresLibraryStore(dsn, tmp / "cold" / "mirror"),
    )
    picked = random.Random(7).sample(range(libraries), 200)
    times = []
    for n in picked:
        started = time.perf_counter()
        fresh.library(server(n)).loaded()
        times.append(time.perf_counter() - started)
    return times


def warm_ratio(dsn: str, tmp: Path, engine: Engine) -> tuple[list[float], list[float]]:
    embedded = Engine(
        EngineConfig(index_dir=tmp / "embedded", corpus_paths=(PACKAGE_CORPUS,)), embedder=engine.embedder
    )
    embedded.library(server(0)).add([small_document(0)])
    fleet = Engine(
        EngineConfig(index_dir=tmp / "builder", corpus_paths=(PACKAGE_CORPUS,)),
        embedder=engine.embedder,
        store=PostgresLibraryStore(dsn, tmp / "warm" / "mirror"),
    )
    fleet.watch_libraries()
    files_times, fleet_times = [], []
    try:
        for _ in range(20):
            for e in (embedded, fleet):
                e.answering(server(0)).answer(QUESTIONS[0])
        for i in range(400):
            question = QUESTIONS[i % len(QUESTIONS)]
            for e, into in ((embedded, files_times), (fleet, fleet_times)):
                started = time.perf_counter()
                e.answering(server(0)).answer(question)
                into.append(time.perf_counter() - started)
    finally:
        fleet.close()
    return files_times, fleet_times


def publish_to_answer(dsn: str, tmp: Path, engine: Engine, rounds: int) -> list[float]:
    other = Engine(
        EngineConfig(index_dir=tmp / "builder", corpus_paths=(PACKAGE_CORPUS,)),
        embedder=engine.embedder,
        store=PostgresLibraryStore(dsn, tmp / "other" / "mirror"),
    )
    other.watch_libraries()
    target = server(TEMPLATES + 1)  # a copy: both processes start from the same version
    other.answering(target).loaded()
    seen = []
    try:
        for n in range(rounds):
            word = f"zebra{n}"
            text = f"Zoo Note {n}\n\nThe zoo of Harbour Town named its new {word} Ottoline {n}.\n"
            engine.library(target).add([NewDocument(f"zoo-{n}.txt", text.encode())])
            done = time.perf_counter()
            while word not in " ".join(
                c.text for c in other.answering(target).answer(f"What was the {word} named?").citations
            ):
                if time.perf_counter() - done > 30:
                    raise RuntimeError("the other process never answered from the new version")
                time.sleep(0.005)
            seen.append(time.perf_counter() - done)
    finally:
        other.close()
    return seen


def child(dsn: str, index_dir: str, mode: str, seconds: float) -> None:
    """One process as a bot holds its engine: load 100 libraries, then answer (see the docstring)."""
    threads = Settings.from_env({}, env_file=None).answer_threads  # the bot's default
    limit_search_threads(threads)
    engine = Engine(
        EngineConfig(index_dir=Path(index_dir), corpus_paths=(PACKAGE_CORPUS,), answer_threads=threads),
        store=PostgresLibraryStore(dsn, Path(index_dir) / f"mirror-{os.getpid()}"),
    )
    servers = [server(n) for n in range(100)]
    for s in servers:
        engine.answering(s).answer(QUESTIONS[0])
    answered = 0
    if mode == "qps":
        print("READY", flush=True)
        sys.stdin.readline()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            engine.answering(servers[answered % 100]).answer(QUESTIONS[answered % len(QUESTIONS)])
            answered += 1
    status = Path("/proc/self/status").read_text()
    rss = next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM"))
    print(json.dumps({"answered": answered, "peak_rss_mb": rss, "torch": "torch" in sys.modules}), flush=True)


def run_children(dsn: str, index_dir: Path, count: int, mode: str, seconds: float) -> list[dict[str, float]]:
    script = [sys.executable, __file__, "--child", mode, "--database", dsn, "--index-dir", str(index_dir)]
    processes = [
        subprocess.Popen([*script, "--seconds", str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    if mode == "qps":
        for p in processes:
            assert p.stdout is not None and p.stdout.readline().strip() == "READY"
        for p in processes:  # all start answering together
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
    results = []
    for p in processes:
        out, _ = p.communicate(timeout=600)
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def connection_costs(dsn: str, rounds: int = 200) -> tuple[list[float], list[float]]:
    """Seconds per `SELECT 1` with a new connection each time, and with a pooled one."""
    opened = []
    for _ in range(rounds):
        started = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT 1").fetchone()
        opened.append(time.perf_counter() - started)
    pool = Connections(dsn, "citebot bench")
    pooled = []
    try:
        for n in range(rounds + 1):
            started = time.perf_counter()
            with pool.connection() as conn:
                conn.execute("SELECT 1").fetchone()
            if n:  # the first one opens the pool
                pooled.append(time.perf_counter() - started)
    finally:
        pool.close()
    return opened, pooled


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--libraries", type=int, default=10_000)
    parser.add_argument("--database", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--child", choices=("rss", "qps"))
    parser.add_argument("--index-dir")
    args = parser.parse_args()
    if args.child:
        child(args.database, args.index_dir, args.child, args.seconds)
        return
    schema = f"citebot_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            dsn = psycopg.conninfo.make_conninfo(args.database, options=f"-c search_path={schema}")
            with tempfile.TemporaryDirectory() as folder:
                tmp = Path(folder)
                engine, stored = populate(dsn, tmp, args.libraries)
                cold = cold_loads(dsn, tmp, int(stored), engine)
                files_times, fleet_times = warm_ratio(dsn, tmp, engine)
                seen = publish_to_answer(dsn, tmp, engine, args.rounds)
                (memory,) = run_children(dsn, tmp / "builder", 1, "rss", 0)
                (one,) = run_children(dsn, tmp / "builder", 1, "qps", args.seconds)
                two = run_children(dsn, tmp / "builder", 2, "qps", args.seconds)
                opened, pooled = connection_costs(dsn)
                engine.close()
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    warm = summary_ms(fleet_times)["p50_ms"] / summary_ms(files_times)["p50_ms"]
    qps_one = one["answered"] / args.seconds
    qps_two = sum(r["answered"] for r in two) / args.seconds
    report(
        "fleet",
        [
            ("server libraries in PostgreSQL", int(stored), ""),
            ("cold load from PostgreSQL p50 (ms)", summary_ms(cold)["p50_ms"], "target ≤ 50"),
            ("cold load from PostgreSQL p95 (ms)", summary_ms(cold)["p95_ms"], ""),
            ("warm answer, embedded p50 (ms)", summary_ms(files_times)["p50_ms"], ""),
            ("warm answer, fleet p50 (ms)", summary_ms(fleet_times)["p50_ms"], ""),
            ("warm answer, fleet / embedded", warm, "target ≤ 1.1"),
            ("publish → answered from it p50 (ms)", summary_ms(seen)["p50_ms"], ""),
            ("publish → answered from it p95 (ms)", summary_ms(seen)["p95_ms"], "target ≤ 1000"),
            ("process with 100 libraries, peak RSS (MB)", memory["peak_rss_mb"], "target ≤ 300"),
            ("  torch loaded in it", str(memory["torch"]), ""),
            ("questions/s, one process", qps_one, ""),
            ("questions/s, two processes", qps_two, f"{os.cpu_count()} cores"),
            ("two / one", qps_two / qps_one, ""),
            ("SELECT 1, new connection p50 (ms)", summary_ms(opened)["p50_ms"], ""),
            ("SELECT 1, pooled connection p50 (ms)", summary_ms(pooled)["p50_ms"], ""),
            ("peak RSS of this script (MB)", peak_rss_mb(), ""),
        ],
        {
            "libraries": stored,
            "cold_load": summary_ms(cold),
            "warm_embedded": summary_ms(files_times),
            "warm_fleet": summary_ms(fleet_times),
            "publish_to_answer": summary_ms(seen),
            "memory": memory,
            "qps": {"one": qps_one, "two": qps_two},
            "connections": {"new": summary_ms(opened), "pooled": summary_ms(pooled)},
            "root": str(common.ROOT),
        },
    )


if __name__ == "__main__":
    main()
