"""Rules for one-line user text shown to other users (titles, display names).

Control characters and Unicode bidirectional controls are refused: the first break layouts and logs, the
second reorder what a reader sees ("Trojan Source": U+202E makes `txt.exe` look like `exe.txt`), so a title or
a name could pass for something it is not.
"""

from __future__ import annotations

import unicodedata

#: Bidi embeddings/overrides (LRE..RLO), isolates (LRI..PDI) and the implicit marks (LRM, RLM, ALM).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def deceptive_char(text: str, *, allow: str = "") -> str | None:
    """The first control or bidi-control character of `text` (outside `allow`), or None."""
    for ch in text:
        if ch in allow:
            continue
        if ch in BIDI_CONTROLS or unicodedata.category(ch) == "Cc":
            return ch
    return None
