"""The entries of issue 29's account commands and `--all-accounts` views, beside
jobs/commands.py (which stays the single-account one): `accounts list|add|remove`, the shell
of one account (`--account NAME`), schedule install/remove per account, and the combined
status, report, pnl and doctor. Each per-account view runs inside that account's own
environment (jobs/accounts.entered), one account after the other; one account's failure is
its own line, never the others' end."""

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ordertrack.core.accounts import Folders, stagger
from ordertrack.errors import ConfigError, ExitCode, OrdertrackError, UsageError
from ordertrack.jobs import accounts, commands
from ordertrack.jobs.commands import Result, Shell, Warn
from ordertrack.store.db import private_dirs
from ordertrack.text import redact
from ordertrack.timeutil import utcnow


class AccountShell(Shell):
    """A Shell over one account's files and environment; while it is open this process's
    environment is the account's (restored on close)."""

    def __init__(self, where: Folders, env: dict[str, str], warn: Warn):
        toml = where.toml if where.toml.is_file() else None
        super().__init__(where.db, toml, warn, env=env)
        self.where = where
        self._exit: contextlib.AbstractContextManager[None] | None = accounts.entered(env)
        self._exit.__enter__()
        private_dirs(where.folder)

    def close(self) -> None:
        super().close()
        if self._exit is not None:
            self._exit.__exit__(None, None, None)
            self._exit = None


def account_shell(name: str, db: Path | None, config_path: Path | None, warn: Warn) -> AccountShell:
    """`ordertrack --account NAME`: exit 2 with --db/--config/ORDERTRACK_DB, 3 when unknown."""
    accounts.locate(os.environ, name)  # a bad name is told first
    accounts.refuse_overrides(db, config_path, os.environ)
    where = accounts.require(os.environ, name)
    return AccountShell(where, accounts.environment(os.environ, where), warn)


def _each(warn: Warn) -> Iterator[tuple[Folders, AccountShell | None, str | None]]:
    """Every account's shell in turn (closed after), or why it could not be opened."""
    for where in accounts.every(os.environ):
        try:
            shell = AccountShell(where, accounts.environment(os.environ, where), warn)
        except FAILURES as exc:
            yield where, None, _said(exc)
            continue
        try:
            yield where, shell, None
        finally:
            shell.close()


# One account's broken configuration or database is its own row, never the others' end.
FAILURES = (OrdertrackError, sqlite3.Error)


def _said(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, OrdertrackError) else f"database error: {exc}"
    return redact(message)


def _broker_of(shell: Shell | None, where: Folders) -> str:
    if shell is not None:
        return shell.env.get("ORDERTRACK_BROKER", "kotak").strip().lower() or "kotak"
    return accounts.broker_of(where)


# ---- accounts list | add | remove ----------------------------------------------------------------


def accounts_list() -> Result:
    rows = []
    for name in accounts.names(os.environ):
        where = accounts.locate(os.environ, name)
        try:
            runs = accounts.last_runs(where.db)
            error = None
        except FAILURES as exc:
            runs, error = [], _said(exc)
        row: dict[str, Any] = {
            "account": name,
            "broker": _broker_of(None, where),
            "db": str(where.db),
            "runs": runs,
        }
        if error:
            row["error"] = error
        rows.append(row)
    return Result(rows, rows)


def accounts_add(name: str, broker: str) -> Result:
    where, fill = accounts.add(os.environ, name, broker)
    return Result(
        {"account": name, "env_file": str(where.env_file), "fill_in": fill, "db": str(where.db)},
        (where, fill),
    )


def accounts_remove(name: str, purge: bool) -> Result:
    """Unschedule the account and take it out of the accounts; its files are kept (the env
    file renamed, so `--all-accounts` and doctor no longer count it) unless --purge. --purge
    also deletes what an earlier remove kept."""
    where = accounts.locate(os.environ, name)
    if not (purge and accounts.retired(where.env_file).is_file()):
        where = accounts.require(os.environ, name)
    said = []
    if accounts.remove_cron(name):
        said.append("its crontab block")
    if count := accounts.remove_systemd(name):
        said.append(f"{count} systemd units")
    lines = [f"Removed {', '.join(said)}." if said else "No schedule was installed for it."]
    if purge:
        gone = accounts.purge(where)
        lines.append("Deleted " + ", ".join(str(p) for p in gone) + ".")
        return Result(view=lines)
    kept = [str(p) for p in (*accounts.retire(where), where.folder) if p.exists()]
    lines.append(
        f"Account {name} is no longer one of the accounts. Kept {', '.join(kept)}"
        f" (rename {where.env_file.name}.removed back to {where.env_file.name} to restore it;"
        f" delete them with 'ordertrack accounts remove {name} --purge')."
    )
    return Result(view=lines)


# ---- schedule ------------------------------------------------------------------------------------


def _targets(name: str | None, all_accounts: bool) -> list[Folders]:
    if name is not None and all_accounts:
        raise UsageError("--account and --all-accounts cannot be combined")
    if all_accounts:
        return accounts.every(os.environ)
    assert name is not None
    return [accounts.require(os.environ, name)]


def schedule_install(name: str | None, all_accounts: bool, systemd: bool, every: int) -> Result:
    from ordertrack.jobs import schedule
    from ordertrack.store import runs
    from ordertrack.store.db import open_db

    targets = _targets(name, all_accounts)
    plans = []
    for where in targets:
        accounts.own_settings(where)  # its env file exists, is 0600 and sets no db of its own
        private_dirs(where.folder)
        db = open_db(where.db)
        try:
            runs.record_cadence(db, every)
        finally:
            db.close()
        plans.append(accounts.plan(os.environ, where, accounts.position(os.environ, where.name)))
    who = ", ".join(w.name for w in targets)
    if systemd:
        folder, timers = accounts.install_systemd(plans, every)
        timers += _bot_line(plans[0], all_accounts, systemd)
        return Result(
            view=f"Wrote {len(timers) * 2} units for {who} to {folder}. Now run:\n"
            "  systemctl --user daemon-reload\n"
            f"  systemctl --user enable --now {' '.join(timers)}"
        )
    lines, zone = accounts.install_cron(plans, utcnow(), every)
    lines += len(_bot_line(plans[0], all_accounts, systemd))
    notices = []
    if trouble := schedule.cron_trouble():
        notices.append(f"{trouble.detail}: {trouble.fix}")
    if moved := _restagger(targets):
        notices.append(
            f"{', '.join(moved)} still run at their old stagger, now another account's slot:"
            " re-run 'ordertrack schedule install --all-accounts'"
        )
    return Result(
        view=f"Installed {lines} cron lines for {who} (host zone {zone}), staggered "
        f"{', '.join(f'{p.where.name} +{p.delay} s' for p in plans)}."
        " Check with 'ordertrack doctor --all-accounts'.",
        notices=notices,
    )


def schedule_print(name: str | None, all_accounts: bool, systemd: bool, every: int) -> Result:
    """What `schedule install --account NAME | --all-accounts` would write, writing nothing: the
    units by path, or each cron line with its next firing (None for a comment line), in the
    shapes of commands.schedule_print."""
    from ordertrack.jobs import account_bot, schedule

    targets = _targets(name, all_accounts)
    for where in targets:
        accounts.own_settings(where)  # what install would refuse, print refuses too
    plans = [accounts.plan(os.environ, w, accounts.position(os.environ, w.name)) for w in targets]
    bot = all_accounts and account_bot.wanted()
    if systemd:
        units: dict[str, str] = {}
        for p in plans:
            units.update(accounts.systemd_units(p, accounts.jobs_of(p.where, every)))
        if bot:
            units.update(account_bot.systemd_units(plans[0]))
        return Result(view={schedule.systemd_dir() / unit: text for unit, text in units.items()})
    zone, zone_name = schedule.host_zone()
    now = utcnow()
    text = "".join(
        accounts.cron_block(
            p, zone, zone_name, now.astimezone(zone), accounts.jobs_of(p.where, every)
        )
        for p in plans
    ) + (account_bot.cron_block(plans[0]) if bot else "")
    return Result(
        view=[
            (line, None if line.startswith("#") else schedule.next_firing(line, zone, now))
            for line in text.splitlines()
        ]
    )


def _restagger(done: list[Folders]) -> list[str]:
    """Installed accounts whose crontab stagger is no longer their slot: installing an account
    whose name sorts before theirs moved them one slot on (docs/accounts.md, "Stagger")."""
    now, moved = utcnow(), []
    for name in accounts.names(os.environ):
        if name in {w.name for w in done}:
            continue
        try:
            lines = accounts.installed_lines(name, now)
        except ConfigError:
            return []
        slot = stagger(accounts.position(os.environ, name))
        if lines and any(line.delay != slot for line in lines):
            moved.append(name)
    return moved


def _bot_line(first: accounts.Plan, all_accounts: bool, systemd: bool) -> list[str]:
    """With --all-accounts, the one `bot --all-accounts` line or timer (jobs/account_bot.py)."""
    from ordertrack.jobs import account_bot

    if not all_accounts:
        return []
    if systemd:
        return account_bot.install_systemd(first)
    return [account_bot.COMMAND] if account_bot.install_cron(first) else []


def schedule_remove(name: str | None, all_accounts: bool, systemd: bool) -> Result:
    from ordertrack.jobs import account_bot

    lines = []
    if all_accounts and (account_bot.remove_systemd() if systemd else account_bot.remove_cron()):
        lines.append(f"Removed the '{account_bot.COMMAND}' schedule.")
    for where in _targets(name, all_accounts):
        if systemd:
            lines.append(f"{where.name}: removed {accounts.remove_systemd(where.name)} units.")
        elif accounts.remove_cron(where.name):
            lines.append(f"{where.name}: removed its crontab block.")
        else:
            lines.append(f"{where.name}: no crontab block.")
    return Result(view="\n".join(lines))


# ---- the combined views --------------------------------------------------------------------------


def status_all(warn: Warn) -> Result:
    rows: list[dict[str, Any]] = []
    views: list[tuple[str, Any, str | None]] = []
    for where, shell, error in _each(warn):
        row: dict[str, Any] = {"account": where.name, "db": str(where.db)}
        if shell is not None:
            try:
                one = commands.status(shell)
                rows.append({**row, **one.json, "db": str(where.db)})
                views.append((where.name, one.view, None))
                continue
            except FAILURES as exc:
                error = _said(exc)
        row.update(broker=_broker_of(shell, where), runs=[], error=error)
        rows.append(row)
        views.append((where.name, None, error))
    return Result(rows, views)


def report_all(
    warn: Warn,
    day: str | None,
    week: bool,
    first: str | None,
    last: str | None,
    out: Path | None,
    month: bool = False,
) -> Result:
    from ordertrack import files
    from ordertrack.core.trading_calendar import ist_date
    from ordertrack.jobs import accounts_report, pnl_report
    from ordertrack.jobs import period as periods
    from ordertrack.store import report_data

    period = periods.period(ist_date(utcnow()), day, week, first, last, month)
    from ordertrack.jobs.report import default_name

    # the single report's name for the same period: one day is one date, not "D_D"
    name = default_name(period).replace("ordertrack-report-", "ordertrack-report-all-accounts-")
    target = None if str(out) == "-" else out or Path(name)
    if target is not None:
        commands._writing(target, lambda: files.check_target(target))  # noqa: SLF001
    parts: list[accounts_report.Part] = []
    for where, shell, error in _each(warn):
        if shell is not None and error is None:
            try:
                if not where.db.is_file():
                    raise ConfigError(f"no database at {where.db} yet")
                settings = shell.settings
                data = report_data.gather(shell.open(), period, settings.missing.calendar, utcnow())
                data.pnl = pnl_report.block(shell.open(), period, settings.charges)
                parts.append(accounts_report.Part(where.name, data, None))
                continue
            except FAILURES as exc:
                error = _said(exc)
        parts.append(accounts_report.Part(where.name, None, error))
    page = accounts_report.page(parts, period, utcnow())
    if target is not None:
        commands._writing(target, lambda: files.replace_whole(target, page))  # noqa: SLF001
    return Result(target, page)


def pnl_all(
    warn: Warn, day: str | None, week: bool, month: bool, first: str | None, last: str | None
) -> Result:
    rows: list[dict[str, Any]] = []
    views: list[tuple[str, Any, Any]] = []
    for where, shell, error in _each(warn):
        if shell is not None:
            try:
                one = commands.pnl(shell, day, week, month, first, last)
                rows.append({"account": where.name, **one.json})
                views.append((where.name, one.json, one.view))
                continue
            except FAILURES as exc:
                error = _said(exc)
        rows.append({"account": where.name, "error": error})
        views.append((where.name, None, error))
    total = {
        key: _sum(r.get(key) for r in rows if "error" not in r)
        for key in ("realised", "unrealised", "charges", "net")
    }
    return Result({"accounts": rows, "total": total}, views)


def _sum(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present), 2) if present else None


def doctor_all(offline: bool, send: bool, only: str | None = None) -> Result:
    """Each account (or `only` that one) checked as its scheduled runs will see it; exit 3 if
    any has a problem."""
    from ordertrack.jobs import doctor

    out, views = [], []
    targets = [accounts.require(os.environ, only)] if only else accounts.every(os.environ)
    for where in targets:
        checks = _doctor_one(doctor, where, offline, send)
        passed = all(r.ok for r in checks)
        out.append({"account": where.name, "ok": passed, "checks": [r.json() for r in checks]})
        views.append((where.name, checks))
    passed = all(a["ok"] for a in out)
    return Result(
        {"ok": passed, "accounts": out}, views, exit=0 if passed else int(ExitCode.CONFIG)
    )


def _doctor_one(doctor: Any, where: Folders, offline: bool, send: bool) -> list[Any]:
    from ordertrack.jobs import account_bot

    bare = doctor.cron_environment(os.environ, Path(os.devnull))
    for name in accounts.CARRIED:  # carried on the installed lines
        if os.environ.get(name):
            bare[name] = os.environ[name]
    try:
        env = accounts.environment(bare, where)
    except OrdertrackError as exc:
        return [doctor.problem("settings", exc.message, "")]  # the message says what to do
    toml = where.toml if where.toml.is_file() else None
    now = utcnow()
    c = doctor.Context(env, where.db, toml, where.env_file, offline, send, now, shell={})
    results: list[Any] = []
    with accounts.entered(accounts.environment(os.environ, where)):
        for check in doctor.CHECKS:
            if check is doctor.check_schedule:
                ok, detail, fix = account_bot.schedule_trouble(where, now)
                results.append(
                    doctor.ok("schedule", detail) if ok else doctor.problem("schedule", detail, fix)
                )
                continue
            try:
                found = check(c)
            except OrdertrackError as exc:
                found = doctor.problem(check.__name__.removeprefix("check_"), exc.message, "")
            results += found if isinstance(found, list) else [found]
    return results


def refuse_beside_all(shell: Shell) -> None:
    """--all-accounts covers every account with its own files: a root --account (which one
    would win?), --db or --config beside it is a usage error, never silently ignored."""
    if isinstance(shell, AccountShell):
        raise UsageError(
            f"--all-accounts cannot be combined with --account {shell.where.name}"
            " (or ORDERTRACK_ACCOUNT): drop one"
        )
    given = [o for o, v in (("--db", shell.db_path), ("--config", shell.config_path)) if v]
    if given:
        raise UsageError(
            f"{' and '.join(given)} cannot be combined with --all-accounts: each account"
            " has its own database and TOML"
        )


def selected(shell: Shell) -> str | None:
    """The account a root `--account NAME` chose (None: the set-up without one)."""
    return shell.where.name if isinstance(shell, AccountShell) else None
