"""Several accounts on one server (issue 29): each account is an env file, an optional TOML and
its own folder (database, reports/, backups/, log), isolated from every other. This module finds
them, builds the environment one account's run sees, writes and reads each account's crontab
block and systemd units, and checks an account's installed schedule. The rules for names and
paths are pure (core/accounts.py)."""

import contextlib
import os
import shlex
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from ordertrack import config
from ordertrack.core import accounts as rules
from ordertrack.core.accounts import Folders
from ordertrack.errors import ConfigError, UsageError
from ordertrack.jobs import schedule
from ordertrack.store.db import private_dirs
from ordertrack.timeutil import IST, show

# What `accounts add` writes for each broker: the variables to fill in (secrets left empty).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "kotak": (
        "KOTAK_CONSUMER_KEY",
        "KOTAK_MOBILE",
        "KOTAK_UCC",
        "KOTAK_MPIN",
        "KOTAK_TOTP_SECRET",
    ),
    "kite": ("KITE_API_KEY", "KITE_API_SECRET"),
    "angel": ("ANGEL_API_KEY", "ANGEL_CLIENT_CODE", "ANGEL_PIN", "ANGEL_TOTP_SECRET"),
    "fyers": ("FYERS_APP_ID", "FYERS_SECRET_KEY", "FYERS_REDIRECT_URL"),
    "file": ("ORDERTRACK_BROKER_DIR",),
}
TELEGRAM = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
# Where a new user finds what each value is: the template's own comment, since `accounts add`
# is where an account starts and the values are not self-explanatory (a folder of what?).
GUIDES: dict[str, str] = {
    "kotak": "Kotak Neo's values: docs/kotak.md",
    "kite": "Kite Connect's values and the daily 'ordertrack broker login': docs/kite.md",
    "angel": "Angel One SmartAPI's values: docs/angel.md",
    "fyers": "Fyers' values and the daily 'ordertrack broker login': docs/fyers.md",
    "file": "ORDERTRACK_BROKER_DIR: a folder of the broker's replies as JSON files"
    " (docs/file-broker.md); 'ordertrack demo --keep DIR' leaves a working one in DIR/broker",
}
TELEGRAM_GUIDE = "Telegram's bot token and chat id: docs/telegram.md (accounts may share a bot)"
CARRIED = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME")  # set on a line when install needs them


def _home(env: Mapping[str, str]) -> Path:
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def config_dir(env: Mapping[str, str]) -> Path:
    return rules.config_root(env, _home(env))


def data_dir(env: Mapping[str, str]) -> Path:
    return config.default_db_path(env).parent


def locate(env: Mapping[str, str], name: str) -> Folders:
    return rules.folders(rules.checked(name), config_dir(env), data_dir(env))


def names(env: Mapping[str, str]) -> list[str]:
    """Every account, by name: the env files in the accounts folder."""
    folder = config_dir(env)
    if not folder.is_dir():
        return []
    found = (rules.name_of_env_file(p) for p in folder.iterdir() if p.is_file())
    return sorted(n for n in found if n)


def require(env: Mapping[str, str], name: str) -> Folders:
    """An existing account, or ConfigError (exit 3) naming the env file looked for."""
    where = locate(env, name)
    if not where.env_file.is_file():
        raise ConfigError(
            f"unknown account {name}: no env file {where.env_file} ({_hint(env, where)})"
        )
    return where


def _hint(env: Mapping[str, str], where: Folders) -> str:
    """What to do about an unknown account: a typo is far likelier than a new account, so the
    close names come first; "create it" only when nothing resembles it."""
    import difflib

    if retired(where.env_file).is_file():
        return (
            f"it was removed: its env file is kept as {retired(where.env_file)};"
            f" rename that to {where.env_file.name} to bring it back"
        )
    known = names(env)
    close = difflib.get_close_matches(where.name, known, n=1, cutoff=0.5)
    listed = f"accounts: {', '.join(known)}" if known else "no accounts yet"
    if close:
        return f"did you mean {close[0]}? {listed}"
    return f"{listed}; create it with 'ordertrack accounts add {where.name}'"


def retired(path: Path) -> Path:
    """Where `accounts remove` keeps a file it takes out of the accounts (NAME.env.removed)."""
    return path.with_name(path.name + ".removed")


def every(env: Mapping[str, str]) -> list[Folders]:
    """All accounts; none is a configuration error (--all-accounts has nothing to do)."""
    found = [locate(env, n) for n in names(env)]
    if not found:
        raise ConfigError(
            f"no accounts: no NAME.env in {config_dir(env)}"
            " (create one with 'ordertrack accounts add NAME')"
        )
    return found


def own_settings(where: Folders) -> dict[str, str]:
    """The account's env file, as ordertrack reads it itself (no shell involved)."""
    problem = schedule.env_file_problem(where.env_file)
    if problem:
        raise ConfigError(problem)
    own = schedule.read_env_file(where.env_file)
    for name in rules.FIXED:
        if name in own:
            raise ConfigError(
                f"{where.env_file} sets {name}: an account's database and TOML are its own"
                f" ({where.db}, {where.toml}); remove that line"
            )
    return own


def environment(
    shell: Mapping[str, str], where: Folders, keys: Mapping[str, set[str]] | None = None
) -> dict[str, str]:
    """The environment the account's run sees (core/accounts.account_environment). `keys`: each
    account's env file names, when the caller has read them all once (the shared bot)."""
    own = own_settings(where)
    if keys is None:
        keys = {
            other: set(schedule.read_env_file(locate(shell, other).env_file))
            for other in names(shell)
            if other != where.name
        }
    others = set().union(*(k for name, k in keys.items() if name != where.name))
    return rules.account_environment(shell, own, others - set(own), where.name)


def refuse_overrides(db: Path | None, config_path: Path | None, env: Mapping[str, str]) -> None:
    given = [
        name
        for name, value in (
            ("--db", db),
            ("--config", config_path),
            ("ORDERTRACK_DB", env.get("ORDERTRACK_DB")),
        )
        if value is not None
    ]
    if given:
        raise UsageError(
            f"{' and '.join(given)} cannot be combined with --account: an account's database"
            " and TOML are its own (unset ORDERTRACK_DB, or drop --account)"
        )


@contextlib.contextmanager
def entered(env: dict[str, str]) -> Iterator[None]:
    """This process's environment is the account's while inside: command hooks, redaction and
    every library reading os.environ see that account's variables and no other's."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def last_runs(db: Path) -> list[dict[str, object]]:
    """The account's last run of each command (status --json's runs); [] without a database."""
    from ordertrack.jobs import result
    from ordertrack.store import runs
    from ordertrack.store.db import open_db

    if not db.is_file():
        return []
    database = open_db(db, create=False)
    try:
        return [result.run_json(r) for r in runs.last_runs(database)]
    finally:
        database.close()


# ---- add, remove ---------------------------------------------------------------------------------


def template(name: str, broker: str, brokers: tuple[str, ...]) -> str:
    if broker not in TEMPLATES:
        raise UsageError(f"--broker must be one of {', '.join(brokers)}")
    lines = [
        f"# ordertrack account {name}: read by 'ordertrack --account {name} ...' itself.",
        "# Keep it chmod 600. Fill in the empty values; secrets never leave this file.",
        f"# {GUIDES[broker]}",
        f"# {TELEGRAM_GUIDE}",
        f"ORDERTRACK_BROKER={broker}",
        *(f"{var}=" for var in TEMPLATES[broker]),
        *(f"{var}=" for var in TELEGRAM),
    ]
    return "\n".join(lines) + "\n"


def add(env: Mapping[str, str], name: str, broker: str) -> tuple[Folders, list[str]]:
    """Write the account's env file (0600) from the broker's template: where, and what to fill."""
    where = locate(env, name)
    broker = broker.strip().lower()
    text = template(name, broker, tuple(TEMPLATES))
    if where.env_file.exists():
        raise UsageError(f"account {name} exists already: {where.env_file}")
    private_dirs(where.env_file.parent)
    fd = os.open(where.env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(where.env_file, stat.S_IRUSR | stat.S_IWUSR)
    return where, [*TEMPLATES[broker], *TELEGRAM]


def retire(where: Folders) -> list[Path]:
    """Take the account out of the accounts (out of `--all-accounts`, `accounts list` and
    doctor) while keeping its settings: its env file and TOML renamed to NAME.*.removed. Where
    they are kept now."""
    kept = []
    for path in (where.env_file, where.toml):
        if path.is_file():
            os.replace(path, retired(path))
            kept.append(retired(path))
    return kept


def purge(where: Folders) -> list[Path]:
    """Delete the account's env file, TOML (kept ones too) and folder: what was deleted."""
    import shutil

    files = (where.env_file, where.toml, retired(where.env_file), retired(where.toml))
    gone = [p for p in files if p.is_file()]
    for path in gone:
        path.unlink()
    if where.folder.is_dir():
        shutil.rmtree(where.folder)
        gone.append(where.folder)
    return gone


# ---- the schedule --------------------------------------------------------------------------------


def markers(name: str) -> tuple[str, str]:
    return f"# >>> ordertrack:{name} >>>", f"# <<< ordertrack:{name} <<<"


@dataclass(frozen=True)
class Plan:
    """One account's schedule: which executable, its log, its stagger, and the variables its
    folders depend on that cron would not set the same (`_carried`)."""

    where: Folders
    executable: Path
    log: Path
    delay: int
    carried: tuple[tuple[str, str], ...] = ()


def plan(env: Mapping[str, str], where: Folders, position: int) -> Plan:
    return Plan(
        where, schedule.this_executable(), where.log, rules.stagger(position), _carried(env)
    )


def _carried(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """What cron would not give the line but the account's folders depend on: XDG_* when set,
    and HOME when it is not the passwd entry's (cron sets HOME from that entry)."""
    import pwd

    carried = []
    home = env.get("HOME")
    if home and os.path.abspath(home) != pwd.getpwuid(os.getuid()).pw_dir:
        carried.append(("HOME", os.path.abspath(home)))
    carried += [
        (k, os.path.abspath(env[k])) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME") if env.get(k)
    ]
    return tuple(carried)


def position(env: Mapping[str, str], name: str) -> int:
    """The account's place among all accounts by name: its stagger slot."""
    known = names(env)
    return known.index(name) if name in known else len(known)


def cron_command(p: Plan, command: str) -> str:
    q = schedule._cron_quote  # noqa: SLF001 - the one quoting rule for crontab lines
    wait = f"sleep {p.delay}; " if p.delay else ""
    xdg = "".join(f"{k}={q(Path(v))} " for k, v in p.carried)
    return f"{wait}{xdg}{q(p.executable)} --account {p.where.name} {command} >> {q(p.log)} 2>&1"


def cron_block(
    p: Plan, zone: tzinfo, zone_name: str, week_of: datetime, jobs: tuple[schedule.Job, ...]
) -> str:
    begin, end = markers(p.where.name)
    lines = [
        begin,
        f"# Account {p.where.name}: written by 'ordertrack schedule install --account"
        f" {p.where.name}'; re-run it rather than editing here.",
        f"# Host time zone {zone_name}; times are host-local, converted from IST;"
        f" each run starts {p.delay} s after the minute (stagger between accounts).",
        f"# Settings and secrets: {p.where.env_file} (read by ordertrack). Log: {p.log}",
    ]
    for job in jobs:
        for spec in schedule.cron_fields(schedule.host_firings(job, zone, week_of.date())):
            lines.append(f"{spec}  {cron_command(p, job.command)}")
    lines.append(end)
    return "\n".join(lines) + "\n"


def unit_stem(name: str, command: str) -> str:
    return f"ordertrack-{name}-{command}"


def systemd_units(p: Plan, jobs: tuple[schedule.Job, ...]) -> dict[str, str]:
    words = [
        schedule._unit_word(str(p.executable), executable=True),  # noqa: SLF001
        "--account",
        p.where.name,
    ]
    environment = "".join(
        f"Environment={k}={schedule._unit_path(Path(v))}\n"  # noqa: SLF001
        for k, v in p.carried
    )
    log = schedule._unit_path(p.log)  # noqa: SLF001
    units = {}
    for job in jobs:
        stem = unit_stem(p.where.name, job.command)
        units[f"{stem}.service"] = (
            f"[Unit]\nDescription=ordertrack {job.command} for account {p.where.name}\n\n"
            f"[Service]\nType=oneshot\n{environment}"
            f"ExecStart={' '.join([*words, job.command])}\n"
            f"StandardOutput=append:{log}\nStandardError=append:{log}\n"
        )
        calendars = "".join(
            f"OnCalendar=Mon..Fri *-*-* {t.strftime('%H:%M')}:{p.delay:02d} Asia/Kolkata\n"
            for t in job.times
        )
        units[f"{stem}.timer"] = (
            f"[Unit]\nDescription=ordertrack {job.command} for account {p.where.name}"
            " (IST times)\n\n"
            f"[Timer]\n{calendars}Persistent={'true' if job.persistent else 'false'}\n\n"
            "[Install]\nWantedBy=timers.target\n"
        )
    return units


def install_cron(plans: list[Plan], now: datetime, every: int) -> tuple[int, str]:
    """Each account's block replaced in place (or appended); other blocks are left as they are."""
    zone, zone_name = schedule.host_zone()
    text = schedule.read_crontab()
    lines = 0
    for p in plans:
        block = cron_block(p, zone, zone_name, now.astimezone(zone), jobs_of(p.where, every))
        begin, end = markers(p.where.name)
        text = schedule.replace_block(text, block, begin, end)
        lines += sum(1 for line in block.splitlines() if not line.startswith("#"))
    schedule.write_crontab(text)
    return lines, zone_name


def remove_cron(name: str) -> bool:
    current = schedule.read_crontab()
    begin, end = markers(name)
    if begin not in current:
        return False
    schedule.write_crontab(schedule.replace_block(current, "", begin, end))
    return True


def install_systemd(plans: list[Plan], every: int) -> tuple[Path, list[str]]:
    folder = schedule.systemd_dir()
    folder.mkdir(parents=True, exist_ok=True)
    timers = []
    for p in plans:
        stale = {unit_stem(p.where.name, c) for c in schedule.COMMANDS}
        for old in folder.glob(f"ordertrack-{p.where.name}-*"):
            if old.stem in stale:  # a job the account no longer has (listen after a broker change)
                old.unlink()
        for unit, text in systemd_units(p, jobs_of(p.where, every)).items():
            (folder / unit).write_text(text, encoding="utf-8")
            if unit.endswith(".timer"):
                timers.append(unit)
    return folder, timers


def remove_systemd(name: str) -> int:
    folder = schedule.systemd_dir()
    stems = {unit_stem(name, c) for c in schedule.COMMANDS}
    gone = [p for p in folder.glob(f"ordertrack-{name}-*") if p.stem in stems]
    for path in gone:
        path.unlink()
    return len(gone)


# ---- what doctor reads back ----------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    command: str
    executable: Path
    account: str
    delay: int
    firing: datetime | None


def parse_line(line: str, zone: tzinfo, now: datetime) -> Line | None:
    """One of an account's crontab lines: `MIN HOUR * * DOW  [sleep N; ][XDG_…=… ]EXE
    --account NAME COMMAND >> LOG 2>&1`."""
    fields = line.split(None, 5)
    if len(fields) < 6:
        return None
    try:
        words = shlex.split(fields[5].replace("\\%", "%"))
        delay = 0
        if words[:1] == ["sleep"]:
            delay, words = int(words[1].rstrip(";")), words[2:]
        while words and words[0].split("=", 1)[0] in CARRIED:
            words = words[1:]
        at = words.index("--account")
        command = next(w for w in words[at + 2 :] if w in schedule.COMMANDS)
    except (ValueError, IndexError, StopIteration):
        return None
    return Line(
        command, Path(words[0]), words[at + 1], delay, schedule.next_firing(line, zone, now)
    )


def installed_lines(name: str, now: datetime) -> list[Line] | None:
    """The account's crontab lines, or None when it has no block."""
    begin, end = markers(name)
    block = schedule.our_block(schedule.read_crontab(), begin, end)
    if not block:
        return None
    zone, _ = schedule.host_zone()
    found = [parse_line(line, zone, now) for line in block if line.strip() and line[0] != "#"]
    return [line for line in found if line is not None]


def installed_units(name: str) -> list[str]:
    folder = schedule.systemd_dir()
    return sorted(
        c for c in schedule.COMMANDS if (folder / f"{unit_stem(name, c)}.timer").is_file()
    )


def schedule_trouble(where: Folders, now: datetime) -> tuple[bool, str, str]:
    """(ok, what was seen, fix) for the account's installed schedule."""
    name = where.name
    wanted = {job.command for job in jobs_of(where)}
    fix = f"ordertrack schedule install --account {name} (or --all-accounts)"
    try:
        lines = installed_lines(name, now)
    except ConfigError:
        lines = None
    if lines is None:
        units = installed_units(name)
        if not units:
            return False, f"no schedule installed for account {name}", fix
        missing = sorted(wanted - set(units))
        if missing:
            return False, f"systemd timers: no unit for {', '.join(missing)}", fix + " --systemd"
        return True, f"systemd timers: {len(units)} jobs for account {name}", ""
    missing = sorted(wanted - {line.command for line in lines})
    if missing:
        return False, f"crontab: no line for {', '.join(missing)}", fix
    if trouble := schedule.cron_trouble():
        return False, f"crontab: {trouble.detail}", trouble.fix
    me = str(schedule.this_executable())
    for line in lines:
        if line.account != name or os.path.abspath(line.executable) != me:
            return False, f"crontab runs {line.executable} --account {line.account}", fix
        if line.firing is None:
            continue
        ist = line.firing.astimezone(IST)
        start, end = schedule.WINDOWS.get(line.command, schedule.MARKET_WINDOW)
        if ist.weekday() > 4 or not start <= ist.time() <= end:
            return (
                False,
                f"crontab: {line.command} next fires {show(line.firing)}, outside market"
                " hours (the host's time zone changed?)",
                fix,
            )
    delays = sorted({line.delay for line in lines})
    nxt = min((line.firing for line in lines if line.firing), default=None)
    return (
        True,
        f"crontab: {len(lines)} lines, staggered +{delays[0]} s, this executable"
        + (f"; next {show(nxt)}" if nxt else ""),
        "",
    )


def broker_of(where: Folders) -> str:
    """The broker named in the account's env file (kotak when it names none)."""
    named = schedule.read_env_file(where.env_file).get("ORDERTRACK_BROKER", "")
    return named.strip().lower() or "kotak"


def jobs_of(where: Folders, every: int = 30) -> tuple[schedule.Job, ...]:
    """The account's jobs: `listen` only when its broker pushes (Angel One and Fyers do not)."""
    from ordertrack.broker.stream import has_stream

    return schedule.jobs(every, has_stream(broker_of(where)))
