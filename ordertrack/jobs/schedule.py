"""The schedule: IST job times turned into crontab lines for this host, or systemd user timers.

Cron lines carry no variables (Debian's cron and cronie expand none) and no CRON_TZ (Debian's cron
ignores it): every path is absolute and every time is the host's local time, computed at install.
"""

import os
import re
import shlex
import shutil
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


MARKET_WINDOW = (time(9, 15), time(18, 0))  # IST: every firing of the polling jobs is in here
LISTEN_AT = time(9, 10)  # before the open, so the stream is up when the first order moves


@dataclass(frozen=True)
class Job:
    command: str
    times: tuple[time, ...]  # IST
    persistent: bool = False  # systemd: run a missed firing at boot
    window: tuple[time, time] = MARKET_WINDOW  # IST: where doctor expects its firings
    every_minute: bool = False  # every minute of every day (`times` unused): the bot


# `ordertrack bot` with [bot] enabled = true (issue 27): commands come at any hour.
BOT_JOB = Job("bot", (), every_minute=True)


def jobs(every: int = 30, listen: bool = True, bot: bool = False) -> tuple[Job, ...]:
    """The schedule, with verify every `every` minutes (1-30: `schedule install --every`),
    `listen` when the broker pushes (`listen`: broker/stream.has_stream), and the bot when
    enabled."""
    return (
        (
            Job("verify", schedule_plan.verify_times(every)),
            Job("reconcile", schedule_plan.RECONCILE_TIMES),  # after the close, before eod
            Job("eod", schedule_plan.EOD_TIMES, persistent=True),
        )
        + ((Job("listen", (LISTEN_AT,), window=(LISTEN_AT, LISTEN_AT)),) if listen else ())
        + ((BOT_JOB,) if bot else ())
    )


JOBS = jobs()
COMMANDS = frozenset(job.command for job in JOBS) | {BOT_JOB.command}
WINDOWS = {job.command: job.window for job in JOBS}


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
    return (
        f"set -a; . {_cron_quote(paths.env_file)}; set +a; "
        f"{_cron_quote(paths.executable)}{root} {job.command} "
        f">> {_cron_quote(paths.log_file)} 2>&1"
    )


def cron_block(
    paths: Paths, zone: tzinfo, zone_name: str, week_of: date, scheduled: tuple[Job, ...] = JOBS
) -> str:
    lines = [
        BEGIN,
        "# Written by 'ordertrack schedule install'; re-run it rather than editing here.",
        f"# Host time zone {zone_name}; times below are host-local, converted from IST.",
        f"# Settings and secrets: {paths.env_file} (chmod 600). Log: {paths.log_file}",
    ]
    if has_dst(zone, week_of.year):
        lines.append(
            "# This zone has daylight saving: re-run 'ordertrack schedule install' at "
            "each change, or use 'ordertrack schedule install --systemd'."
        )
    for job in scheduled:
        if job.every_minute:
            lines.append(f"# {job.command}: every minute, around the clock ([bot] enabled)")
            lines.append(f"* * * * *  {command_line(job, paths)}")
            continue
        ist = _ist_times(job)
        lines.append(f"# {job.command}: {ist} IST, Monday to Friday")
        for spec in cron_fields(host_firings(job, zone, week_of)):
            lines.append(f"{spec}  {command_line(job, paths)}")
    lines.append(END)
    return "\n".join(lines) + "\n"


# Written after BEGIN when install had to end the user's last line to append the block, so
# that remove can take that newline away again.
ADDED_NEWLINE = " (install ended the line above with a newline)"


def _lines(text: str) -> list[str]:
    """Lines with their endings, split on \n only (cron's rule): a \r stays in its line."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def replace_block(crontab: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """The user's crontab with ordertrack's block replaced in place (or appended, or removed if
    `block` is empty). Every character outside the block is kept as it is. `begin`/`end`: an
    account's markers (jobs/accounts.py), so one account's block leaves the others alone."""
    lines = _lines(crontab)
    start = next((i for i, line in enumerate(lines) if line.strip().startswith(begin)), None)
    if start is None:
        if not block:
            return crontab
        if crontab and not crontab.endswith("\n"):
            return crontab + "\n" + block.replace(begin, begin + ADDED_NEWLINE, 1)
        return crontab + block
    last = next(
        (i for i in range(start + 1, len(lines)) if lines[i].strip() == end), len(lines) - 1
    )
    before = "".join(lines[:start])
    after = replace_block("".join(lines[last + 1 :]), "", begin, end)
    added = lines[start].strip() != begin
    if not block:
        return before[:-1] + after if added and not after else before + after
    return before + (block.replace(begin, begin + ADDED_NEWLINE, 1) if added else block) + after


def our_block(crontab: str, begin: str = BEGIN, end: str = END) -> list[str]:
    """The lines between the markers (empty if not installed); an account's with its markers."""
    match = re.search(
        "^" + re.escape(begin) + r"[^\n]*\n(.*?)^" + re.escape(end), crontab, re.S | re.M
    )
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
        if (
            _matches(minute, t.minute)
            and _matches(hour, t.hour)
            and _matches(dow, (t.weekday() + 1) % 7)
        ):
            return t
        t += timedelta(minutes=1)
    return None


# ---- systemd user timers ---------------------------------------------------------------------


# systemd expands %-specifiers in every path setting and $VAR in ExecStart's arguments (not in
# the executable), splits ExecStart on whitespace outside quotes, and strips each value's ends.
_UNIT_SAFE = re.compile(r"[A-Za-z0-9/._+:@=,-]+")
_UNIT_WHITESPACE = " \t\n\r"


def _unit_path(path: Path) -> str:
    """A path for EnvironmentFile= or StandardOutput=append: (taken whole, not unquoted)."""
    text = str(path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ConfigError(f"a systemd unit cannot name {text!r}: it holds a control character")
    if text != text.strip(_UNIT_WHITESPACE):
        raise ConfigError(
            f"a systemd unit cannot name {text!r}: it ends with a space (systemd would strip it)"
        )
    return text.replace("%", "%%")


def _unit_word(word: str, executable: bool = False) -> str:
    """One ExecStart word, quoted (C escapes inside double quotes) only when it needs to be."""
    if executable and any(ch in "\"'\\" or ord(ch) < 32 or ord(ch) == 127 for ch in word):
        raise ConfigError(
            f"systemd refuses to run {word!r}: a quote, backslash or control "
            "character in the path; move the virtualenv, or use cron"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in word):
        raise ConfigError(f"a systemd unit cannot carry {word!r}: it holds a control character")
    text = word.replace("%", "%%") if executable else word.replace("%", "%%").replace("$", "$$")
    if _UNIT_SAFE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _exec_start(job: Job, paths: Paths) -> str:
    words = [_unit_word(str(paths.executable), executable=True)]
    for option, value in (("--db", paths.db), ("--config", paths.config)):
        if value is not None:
            words += [option, _unit_word(str(value))]
    return " ".join([*words, job.command])


def _ist_times(job: Job) -> str:
    if len(job.times) > 16:  # --every 1..5: the cadence, not a hundred times
        step = int(
            (
                datetime.combine(date.min, job.times[1]) - datetime.combine(date.min, job.times[0])
            ).total_seconds()
            // 60
        )
        return (
            f"every {step} minutes {job.times[0].strftime('%H:%M')}-"
            f"{job.times[-2].strftime('%H:%M')}, and {job.times[-1].strftime('%H:%M')}"
        )
    return ", ".join(t.strftime("%H:%M") for t in job.times)


def systemd_units(paths: Paths, scheduled: tuple[Job, ...] = JOBS) -> dict[str, str]:
    """File name → text, for ~/.config/systemd/user."""
    units = {}
    env_file, log = _unit_path(paths.env_file), _unit_path(paths.log_file)
    for job in scheduled:
        name = f"ordertrack-{job.command}"
        units[f"{name}.service"] = (
            "[Unit]\n"
            f"Description=ordertrack {job.command}\n\n"
            "[Service]\n"
            "Type=oneshot\n"
            f"EnvironmentFile={env_file}\n"
            f"ExecStart={_exec_start(job, paths)}\n"
            f"StandardOutput=append:{log}\n"
            f"StandardError=append:{log}\n"
        )
        calendars = "".join(
            f"OnCalendar=Mon..Fri *-*-* {t.strftime('%H:%M')}:00 Asia/Kolkata\n" for t in job.times
        )
        if job.every_minute:
            calendars = "OnCalendar=*-*-* *:*:00\n"
        units[f"{name}.timer"] = (
            "[Unit]\n"
            f"Description=ordertrack {job.command} (IST times)\n\n"
            "[Timer]\n"
            f"{calendars}"
            f"Persistent={'true' if job.persistent else 'false'}\n\n"
            "[Install]\n"
            "WantedBy=timers.target\n"
        )
    return units


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "s": " ",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def _specifiers_undone(value: str) -> str:
    return re.sub(r"%(.)", lambda m: "%" if m.group(1) == "%" else m.group(0), value)


def systemd_path(value: str) -> str:
    """A path setting's value as systemd reads it (the inverse of what install writes)."""
    return _specifiers_undone(value.strip(_UNIT_WHITESPACE))


def systemd_words(value: str) -> list[str]:
    """ExecStart= split as systemd does (systemd.syntax(7)): whitespace separates words outside
    quotes; quotes may open anywhere in a word; backslash escapes are C's. `%%` and, after the
    executable, `$$` are undone; other specifiers and variables are left as written."""
    words: list[str] = []
    word: list[str] = []
    in_word, quote = False, ""
    chars = iter(_specifiers_undone(value))
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            word.append(
                chr(int(next(chars, "") + next(chars, ""), 16))
                if nxt == "x"
                else _ESCAPES.get(nxt, nxt)
            )
        elif quote:
            quote = "" if ch == quote else quote
            if quote:
                word.append(ch)
        elif ch in "'\"":
            quote = ch
        elif ch in _UNIT_WHITESPACE:
            if in_word:
                words.append("".join(word))
            word, in_word = [], False
            continue
        else:
            word.append(ch)
        in_word = True
    if in_word:
        words.append("".join(word))
    return words[:1] + [w.replace("$$", "$") for w in words[1:]]


def systemd_dir(home: Path | None = None) -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str((home or Path.home()) / ".config")
    return Path(base) / "systemd" / "user"


# ---- can the schedule run here? --------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    """Where to look: tests point these at folders they build."""

    proc: Path = Path("/proc")
    systemd_running: Path = Path("/run/systemd/system")  # exists only when systemd is init
    linger: Path = Path("/var/lib/systemd/linger")
    euid: int = -1  # -1: this process's
    path: str | None = None  # where to look for the cron daemon; None: PATH and the sbin folders


HOST = Host()
CRON_DAEMONS = frozenset({"cron", "crond", "cronie"})  # Debian/Ubuntu, RHEL/Alpine, Arch


@dataclass(frozen=True)
class Trouble:
    detail: str
    fix: str


def _as_root(host: Host) -> bool:
    return (os.geteuid() if host.euid == -1 else host.euid) == 0


def _process_name(pid_dir: Path) -> str | None:
    """The program a live process runs; busybox applets by their applet name."""
    try:
        comm = (pid_dir / "comm").read_text(errors="replace").strip()
        if (pid_dir / "stat").read_text(errors="replace").rpartition(")")[2].split()[:1] == ["Z"]:
            return None  # a zombie runs nothing
        if comm == "busybox":
            args = (pid_dir / "cmdline").read_bytes().split(b"\0")
            return os.path.basename(args[1].decode(errors="replace")) if len(args) > 1 else comm
    except OSError:  # the process ended while we looked
        return None
    return comm


def cron_daemons(host: Host | None = None) -> list[int]:
    """The pids of running cron daemons (cron, crond, cronie, busybox crond)."""
    host = host or HOST
    try:
        pids = [int(p.name) for p in host.proc.iterdir() if p.name.isdigit()]
    except OSError:
        return []
    return sorted(pid for pid in pids if _process_name(host.proc / str(pid)) in CRON_DAEMONS)


def cron_trouble(host: Host | None = None) -> Trouble | None:
    """Why the crontab's lines would never run here (no cron daemon), with the fix."""
    host = host or HOST
    if cron_daemons(host):
        return None
    sudo = "" if _as_root(host) else "sudo "
    search = host.path or os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    daemon = next((name for name in ("cron", "crond") if shutil.which(name, path=search)), None)
    detail = "no cron daemon is running, so the crontab's lines never run"
    if daemon is None:
        return Trouble(
            detail,
            f"{sudo}apt-get install cron (or your system's cron package), "
            f"then {sudo}systemctl enable --now cron",
        )
    if host.systemd_running.is_dir():
        return Trouble(detail, f"{sudo}systemctl enable --now {daemon}")
    return Trouble(detail, f"start it: {sudo}service {daemon} start (this host has no systemd)")


def systemd_trouble(units: Path, user: str, host: Host | None = None) -> Trouble | None:
    """Why installed user timers would not fire: systemd not running, timers not enabled, or
    the user not lingering (timers stop at log-out and do not start after a reboot)."""
    host = host or HOST
    sudo = "" if _as_root(host) else "sudo "
    if not host.systemd_running.is_dir():
        return Trouble(
            f"systemd is not running on this host ({host.systemd_running} is "
            "missing), so the timers never fire",
            "use cron: ordertrack schedule remove --systemd; ordertrack schedule install",
        )
    timers = [f"ordertrack-{job.command}.timer" for job in JOBS]
    if not (units / "ordertrack-listen.timer").exists():  # a broker without a push stream
        timers.remove("ordertrack-listen.timer")
    if (units / f"ordertrack-{BOT_JOB.command}.service").exists():  # [bot] enabled at install
        timers.append(f"ordertrack-{BOT_JOB.command}.timer")
    off = [t for t in timers if not (units / "timers.target.wants" / t).exists()]
    if off:
        return Trouble(
            f"{', '.join(off)} not enabled", f"systemctl --user enable --now {' '.join(off)}"
        )
    try:
        lingers = (host.linger / user).exists() if host.linger.is_dir() else False
    except OSError as exc:
        return Trouble(
            f"cannot tell whether {user} lingers ({host.linger}: {exc.strerror})",
            f"check: loginctl show-user {user} --property=Linger",
        )
    if not lingers:
        return Trouble(
            f"{user} does not linger: the timers stop when you log out and do not "
            "start after a reboot",
            f"{sudo}loginctl enable-linger {user}",
        )
    return None


# ---- the user's crontab ----------------------------------------------------------------------


def crontab_binary() -> str:
    """`crontab`, or ORDERTRACK_CRONTAB (tests point it at a fake)."""
    return os.environ.get("ORDERTRACK_CRONTAB") or "crontab"


def read_crontab() -> str:
    """The crontab as text; bytes that are not UTF-8 come through as surrogates (written back
    unchanged by write_crontab): a Latin-1 comment is the user's, not an error."""
    try:
        done = subprocess.run(
            [crontab_binary(), "-l"], capture_output=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise ConfigError(
            "no 'crontab' command on this host: install cron "
            "(apt-get install cron) or use --systemd"
        ) from None
    if done.returncode != 0:
        if b"no crontab" in done.stderr.lower():
            return ""
        raise ConfigError(f"crontab -l failed: {_said(done.stderr) or done.returncode}")
    return done.stdout.decode("utf-8", "surrogateescape")


def write_crontab(text: str) -> None:
    done = subprocess.run(
        [crontab_binary(), "-"],
        input=text.encode("utf-8", "surrogateescape"),
        capture_output=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise ConfigError(f"crontab - failed: {_said(done.stderr) or done.returncode}")


def _said(stderr: bytes) -> str:
    return " ".join(stderr.decode("utf-8", "replace").split())


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
    raise ConfigError(
        "cannot find the ordertrack executable; run the 'ordertrack' script "
        "installed by pip rather than 'python -m ordertrack'"
    )


DEFAULT_ENV_FILE = schedule_plan.DEFAULT_ENV_FILE


def env_file_problem(path: Path) -> str | None:
    """Why cron could not safely source this file, with the fix; None when it is fine."""
    if not path.is_file():
        return (
            f"env file {path} does not exist: create it (mkdir -p {path.parent}; "
            f"touch {path}; chmod 600 {path}) with lines like KOTAK_MPIN=123456"
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return f"env file {path} is readable by others (mode {mode:o}): chmod 600 {path}"
    return None


def check_env_file(path: Path) -> None:
    problem = env_file_problem(path)
    if problem:
        raise ConfigError(problem)


def passwd_home() -> str:
    """HOME as cron and systemd's user manager set it: the passwd entry's, whatever this shell
    says (`sudo -E`, `su` without `-`, a changed HOME). This shell's when there is no entry."""
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:  # a container's uid without a passwd line: nothing better to go on
        return os.environ.get("HOME") or str(Path.home())


def database_of(env_file: Path) -> Path:
    """The database a scheduled line without --db uses: its env file's ORDERTRACK_DB, or the
    default, with `~` and the default taken from cron's HOME rather than this shell's."""
    from ordertrack import config

    saved = os.environ.get("HOME")
    os.environ["HOME"] = passwd_home()  # Path.home() and `~` read it
    try:  # `~` too, inside: a quoted "~/x.db" reaches ordertrack as it is, and cron's HOME
        return config.load(read_env_file(env_file)).db_path.expanduser()
    finally:
        if saved is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = saved


def home_differs(shell_db: Path, cron_db: Path) -> str | None:
    """Why the scheduled runs' database is not this shell's, when HOME is the cause."""
    home = os.environ.get("HOME")
    if shell_db == cron_db or not home or os.path.abspath(home) == passwd_home():
        return None
    return f"cron's HOME is {passwd_home()}, from the passwd entry, not this shell's {home}"


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE assignments of a shell env file, as `. file` would set them (simple forms
    only: optional `export`, optional quotes; no expansion but an unquoted leading `~`, which
    sh expands as it assigns)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        name, sep, value = line.partition("=")
        if not sep or line.startswith("#") or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif value.startswith("~"):  # sh expands an unquoted leading ~ in an assignment
            value = os.path.expanduser(value)
        values[name] = value
    return values


EXAMPLE_PATHS = Paths(
    Path("/home/trader/ordertrack/.venv/bin/ordertrack"),
    Path("/home/trader/.config/ordertrack/env"),
    Path("/home/trader/.local/share/ordertrack/ordertrack.log"),
)


def example() -> str:
    """crontab.example: what `schedule install` writes for user 'trader' on a UTC host.
    Regenerate with: python -m ordertrack.jobs.schedule > crontab.example"""
    return cron_block(EXAMPLE_PATHS, ZoneInfo("UTC"), "UTC", date(2026, 1, 5))


# ---- what install and remove write ---------------------------------------------------------------


def install_systemd(paths: Paths, scheduled: tuple[Job, ...] = JOBS) -> Path:
    """Write the systemd user units; the folder they are in."""
    folder = systemd_dir()
    folder.mkdir(parents=True, exist_ok=True)
    units = systemd_units(paths, scheduled)
    for name, text in units.items():
        (folder / name).write_text(text, encoding="utf-8")
    for stale in ("ordertrack-listen.service", "ordertrack-listen.timer"):
        if stale not in units:  # the broker changed to one without a push stream
            (folder / stale).unlink(missing_ok=True)
    return folder


def install_cron(
    paths: Paths, now: datetime, scheduled: tuple[Job, ...] = JOBS
) -> tuple[int, str, tzinfo]:
    """Put ordertrack's block in the crontab (the rest is left as it is): how many lines,
    in which host zone (its name and the zone)."""
    zone, name = host_zone()
    block = cron_block(paths, zone, name, now.astimezone(zone).date(), scheduled)
    write_crontab(replace_block(read_crontab(), block))
    return sum(1 for line in block.splitlines() if not line.startswith("#")), name, zone


def remove_systemd() -> tuple[int, Path]:
    """Delete ordertrack's systemd user units: how many, from where."""
    folder = systemd_dir()
    removed = [
        p
        for p in folder.glob("ordertrack-*.*")
        if p.suffix in (".service", ".timer") and not _account_unit(p.stem)
    ]
    for path in removed:
        path.unlink()
    return len(removed), folder


def _account_unit(stem: str) -> bool:
    """ordertrack-NAME-verify and the like belong to an account (jobs/accounts.py): the
    default schedule's remove leaves them."""
    return any(stem.endswith(f"-{c}") and stem != f"ordertrack-{c}" for c in COMMANDS)


def remove_cron() -> bool:
    """Take ordertrack's block out of the crontab; False when there was none."""
    current = read_crontab()
    if not our_block(current) and BEGIN not in current:
        return False
    write_crontab(replace_block(current, ""))
    return True


if __name__ == "__main__":
    sys.stdout.write(example())
