"""Text crossing a boundary: into SQLite, or onto the one stderr line a user reads."""

import unicodedata

MAX_LINE = 400


def storable(text: str) -> str:
    """SQLite stores UTF-8, which cannot hold a lone surrogate (half an emoji in a broker's
    JSON, '\\ud83d'): such a character becomes U+FFFD instead of failing the transaction."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Control characters from input (a newline, an ESC) shown escaped, so an error stays one
    line and cannot drive the terminal; long input cut short."""
    shown = "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cs") else c
                    for c in storable(text))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
