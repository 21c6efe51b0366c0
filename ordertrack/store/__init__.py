"""Every SQL statement ordertrack runs, and the one place that opens the database."""
