"""Errors that reach the user as one line on stderr, and the exit codes they end with.

Exit codes are part of the contract, documented in the README: never renumber."""

import sys
from collections.abc import Callable
from enum import IntEnum, unique

Warn = Callable[[str], None]  # shows a problem that does not stop the command


def to_stderr(line: str) -> None:
    """A warning as one line on stderr, for callers with no CLI (the Python API): the CLI
    passes its own `warn` down instead (cli/render.warn: the log-line prefix, redaction)."""
    sys.stderr.write(f"ordertrack: {line}\n")


@unique
class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: unexpected error
    USAGE = 2  # bad arguments, bad input file, conflicting registration
    CONFIG = 3  # configuration missing or invalid
    BROKER = 4  # broker unreachable, login failed or reply unusable; nothing was changed
    LOCKED = 5  # another ordertrack run holds the lock
    UNDELIVERED = 6  # notifications could not be delivered (kept for the next run)
    DATABASE = 7  # database unusable: not a database, corrupt, newer schema, unwritable
    INTERRUPTED = 130


class OrdertrackError(Exception):
    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(OrdertrackError):
    exit_code = ExitCode.USAGE


class OutOfRange(UsageError, ValueError):
    """A number outside what it may be: a usage error, and a ValueError to a Python caller."""


class ConfigError(OrdertrackError):
    exit_code = ExitCode.CONFIG


class BrokerUnavailable(OrdertrackError):
    exit_code = ExitCode.BROKER


class LockHeld(OrdertrackError):
    exit_code = ExitCode.LOCKED


class DatabaseError(OrdertrackError):
    exit_code = ExitCode.DATABASE


class Undelivered(OrdertrackError):
    exit_code = ExitCode.UNDELIVERED


# The names these had before issue 24 (one suffix, *Error, since): the Python API documents
# them (ordertrack/api.py, docs/events.md), so callers that catch them keep working.
UsageProblem = UsageError
DatabaseProblem = DatabaseError
