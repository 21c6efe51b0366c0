"""The schedule: IST job times turned into crontab lines for this host, or systemd user timers.

Cron lines carry no variables (Debian's cron and cronie expand none) and no CRON_TZ (Debian's cron
ignores it): every path is absolute and every time is the host's local time, computed at install.
"""

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ordertrack.core import schedule_plan
from ordertrack.errors import ConfigError
from ordertrack.timeutil import IST

BEGIN, END = "# >>> ordertrack >>>", "# <<< ordertrack <<<"
WEEKDAYS = range(5)  # Monday..Friday, IST


@dataclass(frozen=True)
class Job:
    command: str
    times: tuple[time, ...]  # IST
    persistent: bool = False  # systemd: run a missed firing at boot


JOBS = (
    Job("verify", schedule_plan.VERIFY_TIMES),
    Job("reconcile", schedule_plan.RECONCILE_TIMES),  # after the close, before eod
    Job("eod", schedule_plan.EOD_TIMES, persistent=True),
)
MARKET_WINDOW = (time(9, 15), time(18, 0))  # IST: every firing falls in here


@dataclass(frozen=True)
class Paths:
    executable: Path
    env_file: Path
    log_file: Path
    db: Path | None = None  # carried on the line only when given explicitly at install
    config: Path | None = None


# ---- host time zone --------------------------------------------------------------------------


def host_zone(env: dict[str, str] | None = None) -> tuple[tzinfo, str]:
    """The zone cron uses here: TZ, else /etc/localtime. Returns (zone, name)."""
    env = dict(os.environ) if env is None else env
    name = env.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"TZ={name!r} is not a time zone this host knows") from None
    localtime = Path("/etc/localtime")
    if localtime.exists():
        target = os.path.realpath(localtime)
        if "zoneinfo/" in target:
            key = target.split("zoneinfo/", 1)[1]
            try:
                return ZoneInfo(key), key
            except (ZoneInfoNotFoundError, ValueError):
                pass
        with localtime.open("rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime"), "localtime"
    return ZoneInfo("UTC"), "UTC"


def has_dst(zone: tzinfo, year: int) -> bool:
    offsets = {datetime(year, month, 15, 12, tzinfo=zone).utcoffset() for month in range(1, 13)}
    return len(offsets) > 1


# ---- cron lines ------------------------------------------------------------------------------


def host_firings(job: Job, zone: tzinfo, week_of: date) -> set[tuple[int, int, int]]:
    """(cron weekday 0=Sunday, hour, minute) in the host zone for each IST firing of the week
    that contains `week_of` (the offset in force that week: DST zones need a re-install)."""
    monday = week_of - timedelta(days=week_of.weekday())
    out = set()
    for day in WEEKDAYS:
        for t in job.times:
            local = datetime.combine(monday + timedelta(days=day), t, IST).astimezone(zone)
            out.add(((local.weekday() + 1) % 7, local.hour, local.minute))
    return out


def _ranges(values: list[int]) -> str:
    parts, run = [], [values[0]]
    for v in values[1:]:
        if v == run[-1] + 1:
            run.append(v)
        else:
            parts.append(run)
            run = [v]
    parts.append(run)
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in parts)


def cron_fields(firings: set[tuple[int, int, int]]) -> list[str]:
    """Group firings into as few 'MIN HOUR * * DOW' specs as the data allows."""
    days_of: dict[tuple[int, int], set[int]] = {}
    for dow, hour, minute in firings:
        days_of.setdefault((hour, minute), set()).add(dow)
    hours_of: dict[tuple[int, tuple[int, ...]], list[int]] = {}
    for (hour, minute), days in days_of.items():
        hours_of.setdefault((minute, tuple(sorted(days))), []).append(hour)
    specs = []
    for (minute, dows), hours in sorted(hours_of.items(), key=lambda kv: (min(kv[1]), kv[0])):
        specs.append(f"{minute} {_ranges(sorted(hours))} * * {_ranges(list(dows))}")
    return specs


def _cron_quote(path: Path) -> str:
    return shlex.quote(str(path)).replace("%", r"\%")  # % is a newline to cron


def command_line(job: Job, paths: Paths) -> str:
    root = ""
    if paths.db is not None:
        root += f" --db {_cron_quote(paths.db)}"
    if paths.config is not None:
        root += f" --config {_cron_quote(paths.config)}"
    return (f"set -a; . {_cron_quote(paths.env_file)}; set +a; "
            f"{_cron_quote(paths.executable)}{root} {job.command} "
            f">> {_cron_quote(paths.log_file)} 2>&1")


def cron_block(paths: Paths, zone: tzinfo, zone_name: str, week_of: date) -> str:
    lines = [BEGIN,
             "# Written by 'ordertrack schedule install'; re-run it rather than editing here.",
             f"# Host time zone {zone_name}; times below are host-local, converted from IST.",
             f"# Settings and secrets: {paths.env_file} (chmod 600). Log: {paths.log_file}"]
    if has_dst(zone, week_of.year):
        lines.append("# This zone has daylight saving: re-run 'ordertrack schedule install' at "
                     "each change, or use 'ordertrack schedule install --systemd'.")
    for job in JOBS:
        ist = ", ".join(t.strftime("%H:%M") for t in job.times)
        lines.append(f"# {job.command}: {ist} IST, Monday to Friday")
        for spec in cron_fields(host_firings(job, zone, week_of)):
            lines.append(f"{spec}  {command_line(job, paths)}")
    lines.append(END)
    return "\n".join(lines) + "\n"


def replace_block(crontab: str, block: str) -> str:
    """The user's crontab with ordertrack's block replaced (or added, or removed if empty)."""
    kept, inside = [], False
    for line in crontab.splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    text = "\n".join(kept) + ("\n" if kept else "")
    return text + block


def our_block(crontab: str) -> list[str]:
    """The lines between the markers (empty if not installed)."""
    match = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), crontab, re.S)
    return match.group(1).splitlines() if match else []


# ---- next firings, for `print` and `doctor` --------------------------------------------------


def _matches(field: str, value: int) -> bool:
    if field == "*":
        return True
    for part in field.split(","):
        low, _, high = part.partition("-")
        if int(low) <= value <= int(high or low):
            return True
    return False


def next_firing(spec: str, zone: tzinfo, now: datetime) -> datetime | None:
    """The next moment (in `zone`) a 'MIN HOUR * * DOW' spec fires, within 8 days."""
    minute, hour, _, _, dow = spec.split()[:5]
    t = now.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(8 * 24 * 60):
        if (_matches(minute, t.minute) and _matches(hour, t.hour)
                and _matches(dow, (t.weekday() + 1) % 7)):
            return t
        t += timedelta(minutes=1)
    return None


# ---- systemd user timers ---------------------------------------------------------------------


def systemd_units(paths: Paths) -> dict[str, str]:
    """File name → text, for ~/.config/systemd/user."""
    units = {}
    for job in JOBS:
        root = ""
        if paths.db is not None:
            root += f" --db {shlex.quote(str(paths.db))}"
        if paths.config is not None:
            root += f" --config {shlex.quote(str(paths.config))}"
        name = f"ordertrack-{job.command}"
        log = str(paths.log_file)
        units[f"{name}.service"] = (
            "[Unit]\n"
            f"Description=ordertrack {job.command}\n\n"
            "[Service]\n"
            "Type=oneshot\n"
            f"EnvironmentFile={paths.env_file}\n"
            f"ExecStart={paths.executable}{root} {job.command}\n"
            f"StandardOutput=append:{log}\n"
            f"StandardError=append:{log}\n")
        calendars = "".join(f"OnCalendar=Mon..Fri *-*-* {t.strftime('%H:%M')}:00 Asia/Kolkata\n"
                            for t in job.times)
        units[f"{name}.timer"] = (
            "[Unit]\n"
            f"Description=ordertrack {job.command} (IST times)\n\n"
            "[Timer]\n"
            f"{calendars}"
            f"Persistent={'true' if job.persistent else 'false'}\n\n"
            "[Install]\n"
            "WantedBy=timers.target\n")
    return units


def systemd_dir(home: Path | None = None) -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str((home or Path.home()) / ".config")
    return Path(base) / "systemd" / "user"


# ---- the user's crontab ----------------------------------------------------------------------


def crontab_binary() -> str:
    """`crontab`, or ORDERTRACK_CRONTAB (tests point it at a fake)."""
    return os.environ.get("ORDERTRACK_CRONTAB") or "crontab"


def read_crontab() -> str:
    try:
        done = subprocess.run([crontab_binary(), "-l"], capture_output=True, text=True,
                              timeout=30, check=False)
    except FileNotFoundError:
        raise ConfigError("no 'crontab' command on this host: install cron "
                          "(apt-get install cron) or use --systemd") from None
    if done.returncode != 0:
        if "no crontab" in done.stderr.lower():
            return ""
        raise ConfigError(f"crontab -l failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


def write_crontab(text: str) -> None:
    done = subprocess.run([crontab_binary(), "-"], input=text, capture_output=True, text=True,
                          timeout=30, check=False)
    if done.returncode != 0:
        raise ConfigError(f"crontab - failed: {done.stderr.strip() or done.returncode}")


# ---- paths -----------------------------------------------------------------------------------


def this_executable() -> Path:
    """The ordertrack being run: argv[0] when it is the script, else the one beside Python.
    Not resolved: a venv's bin/ must stay, not the system Python it links to."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "ordertrack" and argv0.exists():
        return Path(os.path.abspath(argv0))
    beside = Path(os.path.abspath(sys.executable)).parent / "ordertrack"
    if beside.exists():
        return beside
    raise ConfigError("cannot find the ordertrack executable; run the 'ordertrack' script "
                      "installed by pip rather than 'python -m ordertrack'")


DEFAULT_ENV_FILE = "~/.config/ordertrack/env"


def env_file_problem(path: Path) -> str | None:
    """Why cron could not safely source this file, with the fix; None when it is fine."""
    if not path.is_file():
        return (f"env file {path} does not exist: create it (mkdir -p {path.parent}; "
                f"touch {path}; chmod 600 {path}) with lines like KOTAK_MPIN=123456")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return (f"env file {path} is readable by others (mode {mode:o}): chmod 600 {path}")
    return None


def check_env_file(path: Path) -> None:
    problem = env_file_problem(path)
    if problem:
        raise ConfigError(problem)


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE assignments of a shell env file, as `. file` would set them (simple forms
    only: optional `export`, optional quotes; no expansion, as cron's sh would see literals)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("export "):
            line = line[len("export "):].strip()
        name, sep, value = line.partition("=")
        if not sep or line.startswith("#") or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


EXAMPLE_PATHS = Paths(Path("/home/trader/ordertrack/.venv/bin/ordertrack"),
                      Path("/home/trader/.config/ordertrack/env"),
                      Path("/home/trader/.local/share/ordertrack/ordertrack.log"))


def example() -> str:
    """crontab.example: what `schedule install` writes for user 'trader' on a UTC host.
    Regenerate with: python -m ordertrack.jobs.schedule > crontab.example"""
    return cron_block(EXAMPLE_PATHS, ZoneInfo("UTC"), "UTC", date(2026, 1, 5))


if __name__ == "__main__":
    sys.stdout.write(example())
