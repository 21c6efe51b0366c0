"""Zerodha Kite Connect v3: its field names and words stay in this package."""
