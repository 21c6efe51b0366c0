"""Fyers API v3: its field names and codes stay in this package."""
