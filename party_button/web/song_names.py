"""One check for every song name that comes in from outside (uploads, deletions, searches).

A name is taken in Unicode's composed form (NFC), so that ``café`` typed on two phones is
one name however each encodes the ``é``, and refused (never cleaned up) when it could
deceive or break a reader: bytes that are not UTF-8, control characters (C0, DEL and C1),
bidirectional overrides and isolates (which show a name backwards, ``evil\\u202egg.exe``
as ``evilexe.ogg``), line and paragraph separators.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_SEPARATORS = frozenset("\u2028\u2029")


class BadName(ValueError):
    """Why a name is refused (the message names it, shown safely)."""


def shown(raw: str) -> str:
    """``raw`` as it can be shown in a message: escapes for what cannot be shown."""
    return raw.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")[:80]


def checked_name(raw: str | None) -> str:
    """``raw`` in NFC, or :class:`BadName` saying why it cannot be a song's name."""
    if not raw:
        raise BadName("the file has no name")
    if any("\ud800" <= char <= "\udfff" for char in raw):
        raise BadName(f"{shown(raw)}: the name holds bytes that are not UTF-8")
    for char in raw:
        code = ord(char)
        if code < 32 or 127 <= code < 160:
            raise BadName(f"{shown(raw)}: control characters are not allowed in a song's name")
        if char in BIDI_CONTROLS or char in _SEPARATORS:
            raise BadName(
                f"{shown(raw)}: the invisible character U+{code:04X} is not allowed in a "
                "song's name"
            )
    return unicodedata.normalize("NFC", raw)
