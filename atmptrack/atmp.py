"""What makes a CORDIS project an advanced-therapy (ATMP) project: the signals of `--atmp`.

Declared here once; `import cordis --atmp` selects a project when any signal fires, and
`--dry-run` says which. No signal is proof: `--exclude ID` drops a false positive, and
`--project ID` adds a project no signal finds.
"""

from __future__ import annotations

import re

# Call topics that fund advanced therapies alone. Topics that also fund other fields are left
# out on purpose: Teaming for Excellence (HORIZON-WIDERA-2022-ACCESS-01-01-two-stage) funds
# CTGCT and GeneT, but also centres for any other science, so a topic alone would mislead.
TOPICS: tuple[str, ...] = (
    "HORIZON-HLTH-2023-IND-06-05",  # the clinical hurdles of ATMPs (JOIN4ATMP)
    "HORIZON-HLTH-2021-TOOL-06-02",
    "HORIZON-HLTH-2023-TOOL-05-01",
)

# EuroSciVoc fields (matched in the field's title or path, ignoring case).
FIELDS: tuple[str, ...] = (
    "gene therapy",
    "cell therapy",
    "tissue engineering",
)

# Words in a project's title or objective. Each pattern says itself in `--dry-run`.
# ATMP and CAR-T keep their case: `car t...` and `atmp` in running text are other words.
WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gene therapy", re.compile(r"\bgene[- ]therap(?:y|ies|eutics?)\b", re.IGNORECASE)),
    ("cell therapy", re.compile(r"\bcell(?:ular)?[- ]therap(?:y|ies)\b", re.IGNORECASE)),
    ("CAR-T", re.compile(r"\bCAR[- ]?T(?:[- ]cells?)?\b")),
    ("ATMP", re.compile(r"\bATMPs?\b")),
    ("advanced therapy", re.compile(r"\badvanced[- ]therap(?:y|ies)\b", re.IGNORECASE)),
    ("tissue engineering", re.compile(r"\btissue[- ]engineer(?:ing|ed)\b", re.IGNORECASE)),
    ("viral vector", re.compile(r"\bviral[- ]vectors?\b", re.IGNORECASE)),
)


def topic_signal(topic: str) -> bool:
    return topic.strip().upper() in TOPICS


def field_signal(text: str) -> str | None:
    """The ATMP field a euroSciVoc title or path names, if any."""
    lowered = text.lower()
    return next((name for name in FIELDS if name in lowered), None)


# Every word above contains one of these (ignoring case): a text without any is skipped at
# the cost of a few substring searches, which matters over a whole export.
_HINTS = ("therap", "car", "atmp", "engineer", "vector")


def word_signals(text: str) -> list[str]:
    """The ATMP words found in a title or an objective, in the order declared."""
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return []
    return [name for name, pattern in WORDS if pattern.search(text)]
