"""Exit codes: part of the contract, documented in the README. Never renumber."""

from enum import IntEnum, unique


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
