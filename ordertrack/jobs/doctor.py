"""`ordertrack doctor`: the deployment checked as the user's cron will see it. Each check gives
one result: ok with what it saw, or the problem with its fix; a fix names docs pages by their
path in the repository (tests/test_doctor_docs.py checks each exists). Nothing here changes
anything, except `--send` (a real test message) and the ping check (the monitor's /log
endpoint)."""

import getpass
import os
import shlex
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests

from ordertrack import config
from ordertrack import net as http
from ordertrack.broker.base import make_broker
from ordertrack.broker.stream import has_stream
from ordertrack.errors import ConfigError, OrdertrackError
from ordertrack.jobs import schedule
from ordertrack.notify import ping
from ordertrack.notify.telegram import Bot, SendOutcome, explain
from ordertrack.store.db import open_db
from ordertrack.timeutil import IST, show

CLOCK_TOLERANCE = timedelta(seconds=30)
QUICK = http.RetryPolicy(
    attempts=2,
    total_seconds=5.0,
    first_wait=0.2,
    max_wait=1.0,
    connect_timeout=3.0,
    read_timeout=5.0,
)


@dataclass(frozen=True)
class Result:
    check: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False

    def json(self) -> dict[str, Any]:
        return asdict(self)


def ok(check: str, detail: str) -> Result:
    return Result(check, True, detail)


def problem(check: str, detail: str, fix: str) -> Result:
    return Result(check, False, detail, fix)


def skipped(check: str, why: str) -> Result:
    return Result(check, True, f"skipped: {why}", skipped=True)


@dataclass
class Context:
    env: dict[str, str]  # what a scheduled run sees (cron_environment), not doctor's own shell
    db_option: Path | None
    config_option: Path | None
    env_file: Path
    offline: bool
    send: bool
    now: datetime
    settings: config.Settings | None = None
    shell: dict[str, str] | None = None  # doctor's own environment, to compare; None: the same
    installed_env_file: Path | None = None  # the env file the installed lines source


# ---- the environment a scheduled run sees ------------------------------------------------------

# Settings a scheduled run reads come with these prefixes; these few are the tool's own knobs
# for a person at a shell, which cron need not have.
RUN_PREFIXES = ("ORDERTRACK_", "KOTAK_", "KITE_", "ANGEL_", "FYERS_", "TELEGRAM_")
TOOL_VARIABLES = frozenset({"ORDERTRACK_CRONTAB", "ORDERTRACK_OUTPUT", "ORDERTRACK_DEBUG"})
CRON_SETS = ("HOME", "LOGNAME", "USER")  # cron (and systemd) set these from the account


def cron_environment(shell: Mapping[str, str], env_file: Path) -> dict[str, str]:
    """A bare environment as cron gives a job, plus the env file its line sources."""
    env = {name: shell[name] for name in CRON_SETS if name in shell}
    env.update(PATH="/usr/bin:/bin", SHELL="/bin/sh")
    return env | schedule.read_env_file(env_file)


def _run_settings(c: Context) -> set[str]:
    assert c.shell is not None
    names = {n for n in c.shell if n.startswith(RUN_PREFIXES) and n not in TOOL_VARIABLES}
    if c.settings is not None:
        names |= {w.secret_env for w in c.settings.webhooks}
    if c.db_option is not None:  # the line carries --db: ORDERTRACK_DB is not read
        names.discard("ORDERTRACK_DB")
    if c.config_option is not None:
        names.discard("ORDERTRACK_CONFIG")
    return names


def shell_only(c: Context) -> list[str]:
    """Run settings set in doctor's shell that the scheduled runs will not see."""
    if c.shell is None:
        return []
    return sorted(n for n in _run_settings(c) if c.shell.get(n) and n not in c.env)


def shell_differs(c: Context) -> list[str]:
    """Run settings the shell and the env file both set, to different values: what you type
    (pending add, status) then uses another database, broker or chat than the scheduled runs."""
    if c.shell is None:
        return []
    return sorted(
        n for n in _run_settings(c) if c.shell.get(n) and n in c.env and c.env[n] != c.shell[n]
    )


def context(
    shell: Mapping[str, str],
    db_option: Path | None,
    config_option: Path | None,
    env_file: Path | None,
    offline: bool,
    send: bool,
    now: datetime,
) -> Context:
    """doctor's view: the env file (given, else the installed schedule's, else the default)
    sourced into a bare environment, and the schedule line's --db/--config unless given here.
    Without an env file to read there is nothing cron would see: the shell's own is used."""
    jobs = installed_jobs(now)
    first = jobs[0] if jobs else None
    path = env_file or (first.env_file if first else None) or Path(schedule.DEFAULT_ENV_FILE)
    path = Path(os.path.abspath(path.expanduser()))
    if first is not None:
        db_option = db_option or first.db
        config_option = config_option or first.config
    installed = first.env_file if first is not None else None
    if not path.is_file():
        return Context(
            dict(shell),
            db_option,
            config_option,
            path,
            offline,
            send,
            now,
            installed_env_file=installed,
        )
    return Context(
        cron_environment(shell, path),
        db_option,
        config_option,
        path,
        offline,
        send,
        now,
        shell=dict(shell),
        installed_env_file=installed,
    )


# ---- each check --------------------------------------------------------------------------------


def check_settings(c: Context) -> Result:
    source = (
        f"{c.env_file} as cron reads it"
        if c.shell is not None
        else "your shell (no env file to read)"
    )
    try:
        c.settings = config.load(c.env, c.db_option, c.config_option)
    except ConfigError as exc:
        return problem(
            "settings",
            f"{exc.message} (from {source})",
            "fix the setting named above (docs/configuration.md)",
        )
    return ok("settings", f"loaded from {source} (broker {c.settings.broker})")


def check_database(c: Context) -> Result:
    if c.settings is None:
        return skipped("database", "settings do not load")
    path = Path(os.path.abspath(c.settings.db_path.expanduser()))
    if not path.is_file():
        return problem(
            "database",
            f"no database at {path}",
            "it is created by the first 'ordertrack pending add' or 'ordertrack "
            "verify'; or point ORDERTRACK_DB at the right file",
        )
    st = path.stat()
    if st.st_uid != os.getuid():
        return problem(
            "database",
            f"{path} is owned by uid {st.st_uid}, not you ({os.getuid()})",
            f"chown {os.getuid()} {path}, or run ordertrack as its owner",
        )
    if st.st_mode & 0o077:
        return problem(
            "database",
            f"{path} is readable by others (mode {st.st_mode & 0o777:o})",
            f"chmod 600 {path}",
        )
    return ok("database", f"{path} (0600, yours)")


def check_env_file(c: Context) -> Result:
    issue = schedule.env_file_problem(c.env_file)
    if issue:
        detail, _, fix = issue.partition(": ")
        return problem("env file", detail, fix)
    installed = c.installed_env_file
    if installed is not None and Path(os.path.abspath(installed)) != c.env_file:
        return problem(
            "env file",
            f"{c.env_file} is checked, but the installed schedule sources {installed}",
            f"check {installed} (doctor without --env-file), or "
            f"'ordertrack schedule install --env-file {c.env_file}'",
        )
    missing = shell_only(c)
    if missing:
        names = ", ".join(missing)
        return problem(
            "env file",
            f"{names} set in your shell, missing from the env file cron reads ({c.env_file})",
            f"add {'it' if len(missing) == 1 else 'them'} "
            f"to {c.env_file}, or unset {'it' if len(missing) == 1 else 'them'} "
            "in your shell",
        )
    differ = shell_differs(c)
    if differ:
        it = "it" if len(differ) == 1 else "them"
        return problem(
            "env file",
            f"{', '.join(differ)} set differently in your shell and in "
            f"the env file cron reads ({c.env_file}): what you type uses other "
            "settings than the scheduled runs",
            f"make {it} the same, or unset {it} in your shell",
        )
    return ok("env file", f"{c.env_file} (0600)")


def _broker_db(c: Context) -> Any:
    """The real database when it exists (the Kotak session lives there), else a throw-away one:
    doctor never creates the user's database."""
    assert c.settings is not None
    if c.settings.db_path.is_file():
        return open_db(c.settings.db_path)
    return open_db(Path(tempfile.mkdtemp(prefix="ordertrack-doctor-")) / "doctor.db")


def _broker_fix(broker: str, stage: str) -> str:
    """What to do about a broker problem, for the broker in use: `stage` is "settings" (they
    do not make a broker) or "read" (a fetch failed). Kite's usual cure is the daily login."""
    if broker == "kite":
        return (
            "run 'ordertrack broker login' (Kite needs a browser login each day), then"
            " 'ordertrack broker check'; docs/kite.md#the-daily-login-and-cron"
        )
    if broker == "fyers":
        return (
            "run 'ordertrack broker login' (Fyers needs a browser login each day), then"
            " 'ordertrack broker check'; docs/fyers.md#the-daily-login"
        )
    if broker == "angel":
        if stage == "settings":
            return "complete the ANGEL_* settings (docs/angel.md), then 'ordertrack broker check'"
        return "run 'ordertrack broker check'; docs/angel.md#troubleshooting"
    if broker not in ("kotak", "file"):
        return f"see the documentation of the {broker} broker plugin; docs/plugins.md"
    if broker == "file":
        return (
            "check ORDERTRACK_BROKER_DIR and the reply files in it "
            "(orders.json, holdings.json, positions.json); docs/file-broker.md"
        )
    if stage == "settings":
        return "complete the KOTAK_* settings (docs/kotak.md), then 'ordertrack broker check'"
    return "run 'ordertrack broker check'; docs/kotak.md#troubleshooting-kotak-neo"


def check_broker(c: Context) -> Result:
    if c.settings is None:
        return skipped("broker", "settings do not load")
    if c.offline:
        return skipped("broker", "--offline")
    try:
        broker = make_broker(c.settings, _broker_db(c))
        for name in ("order_book", "holdings", "positions"):
            result = getattr(broker, name)()
            if not result.usable:
                return problem(
                    "broker",
                    f"{name.replace('_', ' ')} fetch failed: {result.error}",
                    _broker_fix(c.settings.broker, "read"),
                )
    except OrdertrackError as exc:
        return problem("broker", exc.message, _broker_fix(c.settings.broker, "settings"))
    return ok("broker", f"{c.settings.broker}: order book, holdings and positions read")


def check_stream(c: Context) -> Result:
    """The order-update stream `listen` holds accepts the session (jobs/doctor_stream)."""
    from ordertrack.jobs.doctor_stream import DOWN_FIX, probe

    if c.settings is None:
        return skipped("stream", "settings do not load")
    if c.offline:
        return skipped("stream", "--offline")
    db = _broker_db(c)
    try:
        seen = probe(c.settings, db)
    finally:
        db.close()
    if seen.skipped:
        return skipped("stream", seen.detail)
    if seen.ok:
        return ok("stream", seen.detail)
    fix = _broker_fix(c.settings.broker, "read") if seen.refused else DOWN_FIX
    return problem("stream", seen.detail, fix)


def check_telegram(c: Context) -> list[Result]:
    s = c.settings
    if s is None:
        return [skipped("telegram", "settings do not load")]
    if c.offline:
        return [skipped("telegram", "--offline")]
    if not s.telegram_token or not s.telegram_chats:
        missing = "TELEGRAM_BOT_TOKEN" if not s.telegram_token else "TELEGRAM_CHAT_ID"
        return [
            problem(
                "telegram",
                f"{missing} is not set",
                "docs/telegram.md#set-up; then 'ordertrack notify-test'",
            )
        ]
    if c.send:
        from ordertrack.notify import selftest

        return [
            Result(
                "telegram",
                k.ok,
                k.text if k.target == "bot" else f"chat {k.target}: {k.text}",
                "" if k.ok else "docs/telegram.md#ordertrack-notify-test",
            )
            for k in selftest.self_test(s, c.now)
        ]
    bot = Bot(s.telegram_token, s.telegram_api_url, read_timeout=s.telegram_timeout)
    me = bot.get_me()
    if me.outcome is not SendOutcome.SENT:
        return [problem("telegram", f"bot: {explain(me).line()}", "run 'ordertrack notify-test'")]
    name = me.result.get("username", "?") if isinstance(me.result, dict) else "?"
    results = [ok("telegram", f"bot @{name} accepted")]
    for chat in s.telegram_chats:
        answer = bot.get_chat(chat)
        if answer.outcome is SendOutcome.SENT:
            results.append(ok("telegram", f"chat {chat} reachable"))
        else:
            results.append(
                problem(
                    "telegram",
                    f"chat {chat}: {explain(answer).line()}",
                    "run 'ordertrack notify-test'",
                )
            )
    return results


def check_bot(c: Context) -> list[Result]:
    """With [bot] enabled: no webhook on the token (it would block getUpdates); `--send` also
    registers the command list (setMyCommands). No line when the bot is off."""
    s = c.settings
    if s is None or not s.bot_enabled or not s.telegram_token:
        return []
    if c.offline:
        return [skipped("bot", "--offline")]
    from ordertrack.jobs import bot as bot_job

    return [
        Result("bot", True, detail) if fine else problem("bot", detail, fix)
        for fine, detail, fix in bot_job.doctor_lines(s, c.send, bot_job.conflict_since(s))
    ]


def check_channels(c: Context) -> list[Result]:
    """Each [[webhook]] and [[hook]]: a held one (its secret unset, its table broken) keeps its
    events waiting while tracking goes on, so it is a problem here, not a stopped run."""
    s = c.settings  # none configured, or settings that do not load: no line
    found: list[config.Webhook | config.Hook] = [*s.webhooks, *s.hooks] if s else []
    return [
        problem(
            "channels",
            f"{ch.label} is held: {ch.held}",
            "fix it as said (docs/configuration.md, Webhooks); its events wait and go"
            " out in order on the next run",
        )
        if ch.held
        else ok("channels", f"{ch.label} ready")
        for ch in found
    ]


# ---- the installed schedule --------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    command: str
    executable: Path
    env_file: Path
    db: Path | None
    firings: list[datetime]
    config: Path | None = None


def _option(words: list[str], name: str) -> Path | None:
    return Path(words[words.index(name) + 1]) if name in words[:-1] else None


def _parse_cron_line(line: str, zone: Any, now: datetime) -> Installed | None:
    fields = line.split(None, 5)
    if len(fields) < 6:
        return None
    try:
        words = shlex.split(fields[5].replace("\\%", "%"))
        env_file, executable = Path(words[3].rstrip(";")), Path(words[6])
        rest = words[7 : words.index(">>")]
    except (ValueError, IndexError):
        return None
    when = schedule.next_firing(line, zone, now)
    # the command is the first known job name: options may follow it (listen --until 15:35)
    command = next((w for w in rest if w in schedule.COMMANDS), rest[-1] if rest else "")
    return Installed(
        command,
        executable,
        env_file,
        _option(rest, "--db"),
        [when] if when else [],
        _option(rest, "--config"),
    )


def installed_cron(now: datetime) -> list[Installed] | None:
    """The jobs in the crontab block, or None when there is no block."""
    block = schedule.our_block(schedule.read_crontab())
    if not block:
        return None
    zone, _ = schedule.host_zone()
    jobs = [
        _parse_cron_line(line, zone, now)
        for line in block
        if line.strip() and not line.startswith("#")
    ]
    return [j for j in jobs if j is not None]


def installed_systemd() -> list[Installed] | None:
    folder = schedule.systemd_dir()
    jobs = []
    for job in (*schedule.JOBS, schedule.BOT_JOB):
        service = folder / f"ordertrack-{job.command}.service"
        if not service.is_file():
            continue
        values = dict(
            line.split("=", 1) for line in service.read_text().splitlines() if "=" in line
        )
        words = schedule.systemd_words(values.get("ExecStart", ""))
        if not words:
            continue
        env_file = Path(schedule.systemd_path(values.get("EnvironmentFile", "")))
        command = next((w for w in words[1:] if w in schedule.COMMANDS), words[-1])
        jobs.append(
            Installed(
                command,
                Path(words[0]),
                env_file,
                _option(words, "--db"),
                [],
                _option(words, "--config"),
            )
        )
    return jobs or None


def _schedule_db(job: Installed) -> Path:
    """The database the installed job uses: its --db, else what its env file and cron's HOME
    make of it (schedule.database_of)."""
    return job.db if job.db is not None else schedule.database_of(job.env_file)


def check_schedule(c: Context) -> Result:
    if c.settings is None:
        return skipped("schedule", "settings do not load")
    try:
        jobs, kind = installed_cron(c.now), "crontab"
    except ConfigError:
        jobs, kind = None, "crontab"
    if jobs is None:
        jobs, kind = installed_systemd(), "systemd timers"
    fix = "ordertrack schedule install (or --systemd)"
    if not jobs:
        return problem(
            "schedule", "no ordertrack schedule installed (crontab or systemd timers)", fix
        )
    wanted = {
        j.command
        for j in schedule.jobs(listen=has_stream(c.settings.broker), bot=c.settings.bot_enabled)
    }
    missing = wanted - {j.command for j in jobs}
    if missing:
        return problem("schedule", f"{kind}: no line for {', '.join(sorted(missing))}", fix)
    if "listen" in {j.command for j in jobs} - wanted:
        return problem(
            "schedule",
            f"{kind} runs listen, but the {c.settings.broker} broker has no push stream",
            "re-run: ordertrack schedule install (it leaves listen out); docs/listen.md",
        )
    trouble = (
        schedule.cron_trouble()
        if kind == "crontab"
        else schedule.systemd_trouble(schedule.systemd_dir(), getpass.getuser())
    )
    if trouble:
        return problem("schedule", f"{kind}: {trouble.detail}", trouble.fix)
    me = schedule.this_executable()
    for job in jobs:
        if os.path.abspath(job.executable) != str(me):
            return problem(
                "schedule",
                f"{kind} runs {job.executable}, not this ordertrack ({me})",
                f"re-run: {me} schedule install",
            )
        # the env file check already covers the file the user named
        if job.env_file != c.env_file and schedule.env_file_problem(job.env_file):
            return problem(
                "schedule",
                f"{kind} sources {job.env_file}: {schedule.env_file_problem(job.env_file)}",
                f"fix it, or {fix}",
            )
        db = Path(os.path.abspath(_schedule_db(job).expanduser()))
        mine = Path(os.path.abspath(c.settings.db_path.expanduser()))
        if db != mine:
            why = schedule.home_differs(mine, db) if job.db is None else None
            return problem(
                "schedule",
                f"{kind} uses database {db}, not {c.settings.db_path}"
                + (f" ({why})" if why else ""),
                (
                    f"set ORDERTRACK_DB={mine} in {job.env_file} (or work from a login shell), "
                    f"then {fix}"
                    if why
                    else "set ORDERTRACK_DB in the env file to this database, then " + fix
                ),
            )
        for when in [] if job.command == schedule.BOT_JOB.command else job.firings:
            ist = when.astimezone(IST)
            start, end = schedule.WINDOWS.get(job.command, schedule.MARKET_WINDOW)
            if ist.weekday() > 4 or not start <= ist.time() <= end:
                return problem(
                    "schedule",
                    f"{kind}: {job.command} next fires {show(when)}, "
                    "outside market hours (the host's time zone changed?)",
                    "re-run: ordertrack schedule install",
                )
    nxt = min((w for j in jobs if j.command != "bot" for w in j.firings), default=None)
    runner = (
        f"cron running (pid {schedule.cron_daemons()[0]})"
        if kind == "crontab"
        else "enabled, lingering"
    )
    bot = any(j.command == schedule.BOT_JOB.command for j in jobs)
    return ok(
        "schedule",
        f"{kind}: {len(jobs)} jobs, this executable and database, {runner}"
        + (f"; next {show(nxt)}" if nxt else "")
        + ("; the bot every minute" if bot else ""),
    )


# ---- clock and ping ----------------------------------------------------------------------------


def check_clock(c: Context) -> Result:
    s = c.settings
    if s is None:
        return skipped("clock", "settings do not load")
    if c.offline:
        return skipped("clock", "--offline")
    source = (
        s.telegram_api_url
        if s.telegram_token
        else s.kotak_login_url
        if s.broker == "kotak"
        else None
    )
    if source is None:
        return skipped("clock", "no Telegram or Kotak server to compare with")
    host = source.split("//", 1)[-1].split("/", 1)[0]
    try:
        reply = http.send(requests.Session(), "HEAD", source, policy=QUICK, allow_redirects=False)
        theirs = parsedate_to_datetime(reply.headers.get("Date", ""))
    except http.HttpFailure as exc:
        return problem("clock", f"cannot compare: {exc}", "check the network")
    except (TypeError, ValueError):
        return problem("clock", f"{host} sent no usable Date header", "check TELEGRAM_API_URL")
    drift = c.now - theirs
    if abs(drift) > CLOCK_TOLERANCE:
        return problem(
            "clock",
            f"this clock is {drift.total_seconds():+.0f} s off {host}'s",
            "enable time sync (timedatectl set-ntp true); TOTP logins fail otherwise",
        )
    return ok("clock", f"within {abs(drift.total_seconds()):.0f} s of {host}")


def check_ping(c: Context) -> Result:
    s = c.settings
    if s is None:
        return skipped("ping", "settings do not load")
    if not s.ping_url:
        return skipped("ping", "no ping URL set ([health] ping_url / ORDERTRACK_PING_URL)")
    if c.offline:
        return skipped("ping", "--offline")
    # /log records an event without changing the check's state (healthchecks.io); a plain
    # ping here would tell the monitor a run succeeded.
    issue = replace(ping.Pinger(s.ping_url), policy=QUICK).ping("log")
    if issue:
        return problem("ping", issue, "check [health] ping_url / ORDERTRACK_PING_URL")
    return ok("ping", f"{ping.public(s.ping_url)} answers")


CHECKS: tuple[Callable[[Context], Result | list[Result]], ...] = (
    check_settings,
    check_database,
    check_env_file,
    check_broker,
    check_stream,
    check_telegram,
    check_bot,
    check_channels,
    check_schedule,
    check_clock,
    check_ping,
)


def installed_jobs(now: datetime) -> list[Installed]:
    """The installed schedule's jobs: the crontab's, else the systemd units' (maybe none)."""
    try:
        jobs = installed_cron(now) or installed_systemd()
    except OrdertrackError:
        jobs = installed_systemd()
    return jobs or []


def run(c: Context) -> list[Result]:
    results: list[Result] = []
    for check in CHECKS:
        try:
            out = check(c)
        except OrdertrackError as exc:  # a check must not stop the others
            out = problem(check.__name__.removeprefix("check_"), exc.message, "see above")
        results += out if isinstance(out, list) else [out]
    return results
