"""Kotak Neo: the only place that knows Kotak's field names and status words."""
