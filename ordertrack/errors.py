"""Errors that reach the user as one line on stderr and a documented exit code."""

from ordertrack.exitcodes import ExitCode


class OrdertrackError(Exception):
    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageProblem(OrdertrackError):
    exit_code = ExitCode.USAGE


class ConfigError(OrdertrackError):
    exit_code = ExitCode.CONFIG


class BrokerUnavailable(OrdertrackError):
    exit_code = ExitCode.BROKER


class LockHeld(OrdertrackError):
    exit_code = ExitCode.LOCKED


class DatabaseProblem(OrdertrackError):
    exit_code = ExitCode.DATABASE
