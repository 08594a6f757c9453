"""General rules that tell page furniture (paywalls, menus, counters, credits) from article text.

The rules look at the shape and the vocabulary of a line, never at one page's exact lines, so they
carry over to pages scraped from other sites.
"""

from __future__ import annotations

import re

# Calls to action and site chrome. A line holding one of these and little else is furniture.
_CHROME_CUES = re.compile(
    r"""\b(
        subscribe|subscriber|subscription|log\s?in|log\s+into|sign\s?in|sign\s?up|register\s+now|
        create\s+(a\s+free\s+)?account|newsletter|verify(ing)?\s+(your\s+)?access|reader\s+mode|
        preview\s+(view\s+)?of\s+this\s+article|(read|view)\s+(the\s+)?(entire|full|whole)\s+(article|story)|
        continue\s+reading|advertisement|sponsored(\s+content)?|cookies?|accept\s+all|privacy\s+policy|
        terms\s+of\s+(use|service)|all\s+rights\s+reserved|skip\s+to\s+(main\s+)?content|
        share\s+(this|on)\b|follow\s+us|related\s+(articles|stories|coverage)|most\s+(popular|read)|
        recommended\s+for\s+you|download\s+(our|the)\s+app|turn\s+on\s+notifications|
        enable\s+javascript|ad\s+blocker|paywall|gift\s+(this\s+)?article
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
_COPYRIGHT = re.compile(r"^(©|\(c\)|copyright\b)", re.IGNORECASE)

# "1 week ago 29", "3 min read", "12 comments", "Updated 2 hours ago".
_UNITS = r"(second|sec|minute|min|hour|hr|day|week|month|year)s?"
_COUNTER = re.compile(
    rf"""^(
        (updated\s+)?\d+\s*{_UNITS}\s+ago(\s+\d+)?|
        \d+\s*{_UNITS}\s+read|
        \d+\s+(comments?|shares?|likes?|replies|views)|
        [\d\s.,:/-]+
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

# A photo credit glued to the end of a caption ("...with China.Credit...Pool photo by Yoan Valat").
_GLUED_CREDIT = re.compile(r"(?<=\S)\s*(Credit|Photo|Image|Photograph)\s*(\.\.\.|…|:)\s*\S.*$")
_CREDIT_LINE = re.compile(r"^(credit|photo|image|photograph|illustration)\s*(\.\.\.|…|:|\s+by\b)", re.IGNORECASE)

_SEPARATORS = "|•·›»"
_CHROME_MAX_WORDS = 40
_SHAPE_SAMPLE = 400


def split_credit(line: str) -> tuple[str, str | None]:
    """Cut a glued photo credit off a caption; returns (text, credit or None)."""
    match = _GLUED_CREDIT.search(line)
    if not match:
        return line, None
    return line[: match.start()].rstrip(), match.group(0).strip()


def furniture_reason(line: str) -> str | None:
    """Say why a line is page furniture, or None when it may be article text."""
    text = line.strip()
    if not text:
        return "blank"
    words = text.split()
    head = text[:_SHAPE_SAMPLE]  # the shape of a line shows in its start; prose lines are long
    letters = sum(ch.isalpha() for ch in head)
    alphanumerics = sum(ch.isalnum() for ch in head)
    if letters == 0 or alphanumerics / len(head) < 0.5:
        return "mostly symbols"
    if len(words) <= _CHROME_MAX_WORDS and sum(text.count(sep) for sep in _SEPARATORS) >= 2:
        return "navigation"
    if _COUNTER.match(text):
        return "counter"
    if _CREDIT_LINE.match(text):
        return "credit"
    if _COPYRIGHT.match(text):
        return "copyright"
    if len(words) <= _CHROME_MAX_WORDS and _CHROME_CUES.search(text):
        return "site chrome"
    return None


def is_furniture(line: str) -> bool:
    return furniture_reason(line) is not None
