"""When each scheduled command runs, in IST, on every trading day: the one definition the
installed schedule (jobs/schedule.py) and the report's run-health strip both read."""

from datetime import datetime, time, timedelta


def verify_times(every: int = 30) -> tuple[time, ...]:
    """Every `every` minutes from the open (09:15) to 15:15, and once at the close (15:30)."""
    moments = [
        datetime(2000, 1, 1, 9, 15) + timedelta(minutes=every * i)
        for i in range(6 * 60 // every + 1)
    ]
    return tuple(sorted({m.time() for m in moments} | {time(15, 30)}))


VERIFY_TIMES = verify_times()
RECONCILE_TIMES = (time(15, 45),)  # after the close, before eod
EOD_TIMES = (time(18, 0),)

DEFAULT_ENV_FILE = "~/.config/ordertrack/env"  # what the scheduled runs source
