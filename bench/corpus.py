"""Generated text for the benchmarks: varied, readable sentences with real neighbour structure."""

from __future__ import annotations

import random

SUBJECTS = [
    "The council",
    "Officials in Ottawa",
    "The trade minister",
    "A spokesperson for the port",
    "Farmers in Saskatchewan",
    "The central bank",
    "Engineers at the yard",
    "Several diplomats",
    "The opposition leader",
    "Analysts in Beijing",
    "The shipping company",
    "Local residents",
    "The prime minister",
    "Union leaders",
    "The regulator",
]
VERBS = [
    "announced",
    "criticised",
    "approved",
    "delayed",
    "questioned",
    "welcomed",
    "rejected",
    "negotiated",
    "reviewed",
    "defended",
    "postponed",
    "expanded",
]
OBJECTS = [
    "new tariffs on canola oil",
    "a plan to lease the old docks",
    "the treaty on fishing rights",
    "a loan for electric buses",
    "the budget for rural broadband",
    "tighter rules on foreign investment",
    "a study of wind power",
    "the export quota for steel",
    "talks on visa rules",
    "a bid to host the games",
    "cuts to the research fund",
    "a merger of two rail lines",
    "limits on drone flights",
    "the new airport terminal",
]
TIMES = [
    "on Monday",
    "last week",
    "in March",
    "after months of debate",
    "late on Friday",
    "during the summit",
    "before the election",
    "in a closed session",
    "after a long night of talks",
    "at a press conference",
]
REASONS = [
    "citing rising costs",
    "to calm investors",
    "after protests grew",
    "because the data were incomplete",
    "under pressure from exporters",
    "to protect local jobs",
    "after a court ruling",
    "amid a diplomatic dispute",
]


def sentence(rng: random.Random, number: int) -> str:
    return (
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TIMES)}, "
        f"{rng.choice(REASONS)}, report {number} said."
    )


def article(paragraphs: int, seed: int = 7, sentences_per_paragraph: int = 3) -> str:
    rng = random.Random(seed)
    body = [" ".join(sentence(rng, p * 10 + s) for s in range(sentences_per_paragraph)) for p in range(paragraphs)]
    return "Generated Briefing on Trade and Ports\n\nBy Bench Writer\n\nJan. 1, 2026\n\n" + "\n\n".join(body) + "\n"


def sentences(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng, i) for i in range(count)]
