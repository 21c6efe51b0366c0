"""The command line: Typer app, exit ladder, rendering. No SQL, no policy."""
