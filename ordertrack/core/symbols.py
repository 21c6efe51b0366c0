"""One spelling per instrument: the order book says RELIANCE-EQ, holdings say RELIANCE."""

import re

# NSE/BSE cash-market series that Kotak appends to the trading symbol.
_SERIES = ("EQ", "BE", "BZ", "BL", "SM", "ST")
_VALID = re.compile(r"[A-Z0-9][A-Z0-9&_.\-]{0,49}")


def normalise(symbol: str) -> str:
    text = symbol.strip().upper()
    base, dash, series = text.rpartition("-")
    if dash and base and series in _SERIES:
        return base
    return text


def check(symbol: str) -> str:
    """Normalised symbol, or ValueError naming what is wrong with it."""
    text = normalise(symbol)
    if not symbol.strip().isascii() or not _VALID.fullmatch(text):  # 'ß'.upper() would be 'SS'
        raise ValueError(f"invalid symbol {symbol!r}: use letters, digits and & _ . - (at most 50)")
    return text
