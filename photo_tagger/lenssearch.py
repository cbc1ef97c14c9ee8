"""Match lens names as people type them: 'Helios 44-2', 'helios44-2' and 'Helios-44-2' alike.

Names and queries are cut into words and numbers ('KMZ Helios-44 58mm 1:2' is kmz, helios,
44, 58, mm, 1, 2), so spaces, hyphens and a missing space between a word and a number do
not matter. A query word that is a whole word of the name counts most, then the start of a
word, then part of one, then a run across words ('1442' in '14-42mm'): `lens search 44`
lists the Helios-44 before the 14-42 mm zooms. When no name has every query word, the names
sharing the most words (or close spellings: 'jupitor') are offered as near matches.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

_TOKEN = re.compile(r"[^\W\d_]+|\d+(?:\.\d+)?")
# Words users add that lens names often leave out ('f/2' where lensfun writes '1:2').
_OPTIONAL = frozenset({"f", "mm"})
_WHOLE, _START, _PART, _ACROSS = 3.0, 2.0, 1.0, 0.5
_CLOSE_SPELLING = 0.75  # difflib ratio for 'jupitor' ~ 'jupiter'


def tokens(text: str) -> list[str]:
    """Lowercase words and numbers: 'Helios-44M-4 58mm' -> helios, 44, m, 4, 58, mm."""
    return _TOKEN.findall(text.casefold())


def query_tokens(text: str) -> list[str]:
    """The words of a query that must match; 'f' and 'mm' only when nothing else is typed."""
    words = tokens(text)
    kept = [w for w in words if w not in _OPTIONAL]
    return kept or words


def _quality(word: str, name_words: Sequence[str], joined: str) -> float:
    """How well one query word matches a name: whole word, start of one, part of one, across words."""
    if word in name_words:
        return _WHOLE
    if any(w.startswith(word) for w in name_words):
        return _START
    if any(word in w for w in name_words):
        return _PART
    return _ACROSS if word in joined else 0.0


def _close(word: str, name_words: Sequence[str]) -> float:
    """A misspelt word ('jupitor'): its best difflib ratio to a word of the name, if close."""
    if len(word) < 4 or not word.isalpha():
        return 0.0
    best = max((difflib.SequenceMatcher(None, word, w).ratio() for w in name_words if w.isalpha()), default=0.0)
    return best if best >= _CLOSE_SPELLING else 0.0


def rank(text: str, names: Sequence[str]) -> list[int]:
    """Indexes of the names matching every query word, best first (score, then shorter name)."""
    wanted = query_tokens(text)
    scored = []
    for i, name in enumerate(names):
        words = tokens(name)
        qualities = [_quality(w, words, "".join(words)) for w in wanted]
        if all(qualities):
            scored.append((-sum(qualities), len(name), name.casefold(), i))
    return [i for *_, i in sorted(scored)]


def near(text: str, names: Sequence[str], n: int = 5) -> list[int]:
    """Indexes of the names closest to a query that none matches fully, best first.

    A name qualifies by matching one of the query's words (a word, not only a number, where
    the query has one), so 'jupiter-9' offers the Jupiters and not every lens with a 9."""
    wanted = query_tokens(text)
    worded = any(w.isalpha() for w in wanted)
    scored = []
    for i, name in enumerate(names):
        words = tokens(name)
        qualities = [_quality(w, words, "".join(words)) or _close(w, words) for w in wanted]
        if not any(q for w, q in zip(wanted, qualities) if w.isalpha() or not worded):
            continue
        scored.append((-sum(qualities), -sum(1 for q in qualities if q), len(name), name.casefold(), i))
    return [i for *_, i in sorted(scored)[:n]]
