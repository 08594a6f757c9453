"""What a process tells its operator: Prometheus metrics, `/healthz`, one log line per question.

Served on METRICS_HOST:METRICS_PORT only when METRICS_PORT is set. Each bot has its own registry
(no process-wide state). Metric names start with `citebot_`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)
questions_log = logging.getLogger("citebot.questions")

OUTCOMES = ("answered", "uncertain", "abstained", "summary", "failed")


def build_instruments(registry: CollectorRegistry, what: str) -> tuple[Counter, Histogram]:
    """`citebot_builds` by outcome and `citebot_build_seconds`, the same in bot and worker processes."""
    counter = Counter("citebot_builds", f"{what}, by outcome", ["outcome"], registry=registry)
    duration = Histogram(
        "citebot_build_seconds", f"{what}: duration", buckets=(1, 5, 15, 30, 60, 120, 300, 600), registry=registry
    )
    return counter, duration


class Metrics:
    """The counters, histograms and gauges of one bot, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.questions = Counter(
            "citebot_questions", "Questions answered, by outcome", ["outcome"], registry=self.registry
        )
        self.answer_seconds = Histogram(
            "citebot_answer_seconds",
            "Time to answer a question, embedding and search included",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.builds, self.build_seconds = build_instruments(self.registry, "Library changes")
        self.build_queue = Gauge(
            "citebot_build_queue_depth", "Changes waiting for a build slot", registry=self.registry
        )
        self.loaded_libraries = Gauge("citebot_loaded_libraries", "Libraries in memory", registry=self.registry)
        self.gateway_latency = Gauge(
            "citebot_gateway_latency_seconds",
            "Heartbeat latency of each gateway shard",
            ["shard"],
            registry=self.registry,
        )
        for outcome in OUTCOMES:
            self.questions.labels(outcome)  # every outcome shows, even at zero
        for outcome in ("published", "refused", "failed"):
            self.builds.labels(outcome)

    def asked(self, outcome: str, seconds: float, *, server: int | None, library: str, version: str | None) -> None:
        """Count one question and write its log line (server, library version, latency, outcome)."""
        self.questions.labels(outcome).inc()
        self.answer_seconds.observe(seconds)
        questions_log.info(
            "question server=%s library=%s version=%s latency_ms=%.1f outcome=%s",
            server if server is not None else "dm",
            library,
            version or "-",
            seconds * 1000,
            outcome,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def serve_health(
    host: str,
    port: int,
    metrics: Metrics,
    healthy: Callable[[], Awaitable[bool]],
    before_scrape: Callable[[], None],
) -> web.AppRunner:
    """Serve /healthz (200 while `healthy()`, else 503) and /metrics; returns the runner to clean up."""

    async def healthz(_request: web.Request) -> web.Response:
        ok = await healthy()
        return web.Response(status=200 if ok else 503, text="ok\n" if ok else "unhealthy\n")

    async def scrape(_request: web.Request) -> web.Response:
        before_scrape()
        body = await asyncio.to_thread(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("Serving /healthz and /metrics on %s:%s.", host, port)
    return runner


class WorkerMetrics:
    """What a build worker (`citebot worker`) tells its operator: builds and the queue."""

    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.builds, self.build_seconds = build_instruments(self.registry, "Builds run by this worker")
        self.queue = Gauge(
            "citebot_build_queue_depth", "Build jobs waiting in the fleet's queue", registry=self.registry
        )
        self.queue.set_function(queue_depth)
        for outcome in ("published", "failed", "cancelled"):
            self.builds.labels(outcome)

    def built(self, outcome: str, seconds: float) -> None:
        self.builds.labels(outcome).inc()
        self.build_seconds.observe(seconds)


def serve_worker_health(
    host: str, port: int, metrics: WorkerMetrics, healthy: Callable[[], bool]
) -> ThreadingHTTPServer:
    """/healthz (200 while `healthy()`) and /metrics for a process without an event loop, in a thread;
    `shutdown()` the server returned to stop it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                ok = healthy()
                status, body, kind = (200 if ok else 503), b"ok\n" if ok else b"unhealthy\n", "text/plain"
            elif self.path == "/metrics":
                status, body, kind = 200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST
            else:
                status, body, kind = 404, b"not found\n", "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="citebot-health", daemon=True).start()
    log.info("Serving /healthz and /metrics on %s:%s.", host, port)
    return server
