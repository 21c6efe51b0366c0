"""Brokers: where order books, history, holdings and positions come from."""
