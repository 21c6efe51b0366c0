"""Angel One SmartAPI: its field names and words stay in this package."""
