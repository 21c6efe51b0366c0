"""The functional core: pure functions over dataclasses. Imports nothing that does I/O."""
