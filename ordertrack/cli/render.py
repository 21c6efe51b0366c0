"""Turning a command's result into terminal tables, log lines or JSON, and its warnings into
one line on stderr. The CLI prints through it; lower modules never print (a warning reaches
them as the `warn` they are passed)."""

import os
import sys
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ordertrack.jobs.result import MAX_LINES, change_json
from ordertrack.text import inline, one_line, redact, storable
from ordertrack.timeutil import IST, from_db, show, to_ist, utcnow

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ordertrack.core.models import Order

# Markup off: symbols and broker reasons are data, never rich markup. Cron logs are not
# terminals: give them room instead of rich's default 80 columns.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 132
COMMAND = ["ordertrack"]  # the running command, for log lines; set by the CLI


def log_mode() -> bool:
    """Log lines (timestamp, command, no tables, no wrapping) instead of terminal output: when
    stdout is not a terminal and no COLUMNS asks for a layout; ORDERTRACK_OUTPUT=log|terminal
    decides explicitly."""
    choice = os.environ.get("ORDERTRACK_OUTPUT", "").strip().lower()
    if choice in ("log", "terminal"):
        return choice == "log"
    return not sys.stdout.isatty() and not os.environ.get("COLUMNS")


def log_prefix() -> str:
    return f"{utcnow().astimezone(IST).isoformat(timespec='seconds')} {COMMAND[0]}"


def _table_lines(table: "Table") -> list[str]:
    """One line per row, 'Header=value' pairs: greppable, no box drawing."""
    headers = [str(c.header) for c in table.columns]
    cells = [[str(cell) for cell in c._cells] for c in table.columns]
    title = f"{table.title}: " if table.title else ""
    return [
        title + "; ".join(f"{h}={col[i]}" for h, col in zip(headers, cells, strict=True) if col[i])
        for i in range(table.row_count)
    ]


def _log_line_texts(obj: Any) -> list[str]:
    if not isinstance(obj, str):
        from rich.table import Table

        if isinstance(obj, Table):
            return _table_lines(obj)
    return str(obj).splitlines()


class _LazyConsole:
    """rich's console, made on first use on a terminal: rich takes as long to import as the
    rest of a `pending add`, and log lines (cron, an engine) need it only for tables."""

    _rich: "Console | None" = None

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if not log_mode():
            self.rich().print(*objects, **kwargs)
            return
        lines = [line for obj in objects for line in _log_line_texts(obj)]
        prefix = log_prefix()
        sys.stdout.write("".join(f"{prefix} {line}\n" for line in lines if line.strip()))
        sys.stdout.flush()

    def rich(self) -> "Console":
        if self._rich is None:
            from rich.console import Console

            self._rich = Console(highlight=False, markup=False, emoji=False, width=_WIDTH)
        return self._rich

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich(), name)


console = _LazyConsole()


def _Table(**kwargs: Any) -> "Table":  # noqa: N802 - stands for the class, made on first use
    """Every cell shown on one line with its control characters escaped: cells hold broker
    text (a reason with an ESC sequence or a newline must not drive or forge the terminal)."""
    from rich.table import Table

    class SafeTable(Table):
        def add_row(self, *cells: Any, **kwargs: Any) -> None:
            super().add_row(*(inline(c) if isinstance(c, str) else c for c in cells), **kwargs)

    return SafeTable(**kwargs)


@dataclass(frozen=True)
class Col:
    """A column that fits: drop > 0 is its turn to go as the width shrinks (highest first;
    0 never goes). A wrap column wraps its text at word boundaries; with under=True its turn
    moves it onto full-width lines under the row instead of dropping it. Other cells never
    wrap: ids and symbols stay whole. A column with nothing in it takes no width."""

    header: str
    drop: int = 0
    wrap: bool = False
    under: bool = False
    justify: str = "left"


_WRAP_MIN = 20  # narrowest useful reason column
_MARK = "\ue000"  # a private-use character: marks the placeholder lines of a note
_NOTE = ("↳ ", "  ")  # a note's first line, its continuation lines


def _need(text: Any) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in str(text).splitlines()), default=0)


def _longest_word(text: Any) -> int:
    from rich.cells import cell_len

    return max((cell_len(word) for word in str(text).split()), default=0)


def _widths(cols: list[Col], rows: list[list[Any]], keep: list[int]) -> dict[int, int]:
    return {i: max([_need(cols[i].header)] + [_need(r[i]) for r in rows]) for i in keep}


def _narrowest(cols: list[Col], rows: list[list[Any]], i: int) -> int:
    """A wrap column is no narrower than its longest word, so no word is cut."""
    return max([_longest_word(cols[i].header)] + [_longest_word(r[i]) for r in rows])


def _fits(cols: list[Col], rows: list[list[Any]], keep: list[int], width: int) -> bool:
    need = _widths(cols, rows, keep)
    used = sum(
        min(n, max(_WRAP_MIN, _narrowest(cols, rows, i)))
        if cols[i].wrap and not cols[i].under
        else n
        for i, n in need.items()
    )
    return used + 3 * len(need) + 1 <= width


def _cell(value: Any) -> Any:
    """A cell made safe for one line, and never taken for a note's placeholder."""
    if isinstance(value, str):
        return inline(value).replace(_MARK, "\ufffd")
    if _MARK in str(value):  # a Text
        from rich.text import Text

        return Text(str(value).replace(_MARK, "\ufffd"))
    return value


def fitted(title: str | None, cols: list[Col], rows: list[list[Any]]) -> Any:
    """A table for the console's width: empty columns left out; a reason that does not fit
    on one line moved under its row rather than squeezed; then columns dropped by priority
    until what is left fits. Off a terminal every column stays (log lines)."""
    rows = [[_cell(c) for c in r] for r in rows]
    keep = [i for i in range(len(cols)) if i == 0 or any(_need(r[i]) for r in rows)]
    width = console.width
    fits = log_mode() or _fits(cols, rows, keep, width)
    under = None if fits else next((i for i in keep if cols[i].under), None)
    if under is not None:
        keep.remove(under)
        fits = _fits(cols, rows, keep, width)
    while not fits:
        turns = [i for i in keep if cols[i].drop]
        if not turns:
            break
        keep.remove(max(turns, key=lambda i: cols[i].drop))
        fits = _fits(cols, rows, keep, width)
    need = _widths(cols, rows, keep)
    table = _TableLayout(
        title,
        [cols[i] for i in keep],
        [need[i] for i in keep],
        [[r[i] for i in keep] for r in rows],
        [_narrowest(cols, rows, i) if fits else None for i in keep],
    )
    if under is None:
        return table.build()
    return _Noted(table, [r[under] for r in rows])


@dataclass
class _TableLayout:
    title: str | None
    cols: list[Col]
    need: list[int]
    rows: list[list[Any]]
    narrowest: list[int | None]

    def build(self, heights: list[int] | None = None) -> "Table":
        """The table; a row with a height > 0 is followed by that many placeholder lines."""
        from rich.table import Table

        table = Table(title=self.title)
        for col, need, narrowest in zip(self.cols, self.need, self.narrowest, strict=True):
            if col.wrap:
                table.add_column(
                    col.header,
                    overflow="fold",
                    min_width=narrowest,
                    justify=col.justify,  # type: ignore[arg-type]
                )
            else:
                table.add_column(col.header, no_wrap=True, min_width=need, justify=col.justify)  # type: ignore[arg-type]
        for row, height in zip(self.rows, heights or [0] * len(self.rows), strict=True):
            table.add_row(*row)
            if height:
                table.add_row("\n".join([_MARK] * height), *[""] * (len(row) - 1))
        return table


class _Noted:
    """A table whose rows each may carry a note (a reason, an error) on lines of their own
    under the row, across the table's whole width, wrapped at word boundaries. rich has no
    cell spanning columns: the note's row is followed by placeholder lines that are replaced,
    once the table is laid out, by the note between the table's edges."""

    def __init__(self, table: _TableLayout, notes: list[Any]):
        self.table, self.notes = table, notes

    def __rich_console__(self, console: "Console", options: Any) -> Any:
        from rich.segment import Segment

        plain = console.render_lines(self.table.build(), options, pad=False)
        inner = Segment.get_line_length(plain[-1]) - 4  # the bottom edge, less "│ " and " │"
        wrapped = [self._wrap(console, note, inner) for note in self.notes]
        notes = iter(line for lines in wrapped for line in lines)
        laid = self.table.build([len(lines) for lines in wrapped])
        for line in console.render_lines(laid, options, pad=False):
            text = next(notes, None) if any(_MARK in seg.text for seg in line) else None
            if text is not None:
                note = Segment.adjust_line_length(list(text.render(console)), inner)
                line = [line[0], Segment(" "), *note, Segment(" "), line[-1]]
            yield from line
            yield Segment.line()

    @staticmethod
    def _wrap(console: "Console", note: Any, inner: int) -> list["Text"]:
        """The note's lines, each paragraph's first marked, the rest indented under it."""
        from rich.text import Text

        if not note:
            return []
        note = note if isinstance(note, Text) else Text(str(note))
        room = max(inner - len(_NOTE[0]), 1)
        lines = []
        for paragraph in note.split("\n"):
            for n, line in enumerate(paragraph.wrap(console, room, overflow="fold")):
                line.rstrip()
                lines.append(Text(_NOTE[0] if n == 0 else _NOTE[1]) + line)
        return lines


def emit_json(data: Any) -> None:
    import json

    sys.stdout.write(storable(json.dumps(data, indent=2, ensure_ascii=False)) + "\n")


def orders_table(rows: list["Order"], title: str) -> None:
    from ordertrack.notify.messages import inr

    if not rows:
        console.print(f"{title}: none")
        return
    cols = [
        Col("Order"),
        Col("Symbol"),
        Col("Side", 2),
        Col("Filled/Qty", 3),
        Col("Avg", 5),
        Col("Status", 1),
        Col("Placed (IST)", 6),
        Col("Reason", 4, wrap=True, under=True),
    ]
    console.print(
        fitted(
            title,
            cols,
            [
                [
                    r.ref,
                    r.symbol,
                    r.side.value,
                    f"{r.filled_qty}/{r.qty}",
                    inr(r.avg_price) if r.avg_price else "",
                    r.status.value + (" (AMO)" if r.amo else ""),
                    show(r.placed_at),
                    r.reason or "",
                ]
                for r in rows
            ],
        )
    )


def order_detail(row: "Order", events: list[dict[str, Any]]) -> None:
    orders_table([row], "Order")
    cols = [
        Col("When (IST)"),
        Col("Event", 1),
        Col("Status", 2),
        Col("Filled", 3),
        Col("Broker status", 5),
        Col("Reason", 4, wrap=True, under=True),
    ]
    console.print(
        fitted(
            "Events",
            cols,
            [
                [
                    show(from_db(e["at"])),
                    e["kind"],
                    e["status"],
                    f"{e['filled_qty']}" + (f" (+{e['delta_qty']})" if e["delta_qty"] else ""),
                    e["broker_status"] or "",
                    e["reason"] or "",
                ]
                for e in events
            ],
        )
    )


def expiry_line(expiry: dict[str, Any] | None) -> None:
    if expiry is None:
        return
    missed = expiry["missed_fetches"]
    needed = plural(expiry["fetches_needed"], "successful fetch", "successful fetches")
    since = f" (since {show(from_db(expiry['missing_since']))})" if missed else ""
    console.print(
        f"Missed by {missed} of the {needed} that expiry needs{since}; eligible for "
        f"expiry from {show(from_db(expiry['eligible_from']))}."
    )


def tracking_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("Tracked symbols: none")
        return
    cols = [Col("Symbol"), Col("Quantity"), Col("Status", 1), Col("Since (IST)", 2)]
    console.print(
        fitted(
            "Tracked symbols",
            cols,
            [
                [r["symbol"], str(r["tracked_qty"]), r["status"], show(from_db(r["started_at"]))]
                for r in rows
            ],
        )
    )


def _text(row: dict[str, Any]) -> str:
    """An outbox row's message as one plain text."""
    from ordertrack.notify import messages

    return messages.plain_text(row["kind"], row["payload"])


def _delivery_cell(row: dict[str, Any]) -> "Text":
    """One line per chat: its status, and why it is not sent yet. A Text, not a str: its line
    breaks are ours, each line made safe here."""
    from rich.text import Text

    if row.get("digest_id"):
        return Text(f"in digest #{row['digest_id']}")
    lines = []
    for d in row.get("deliveries", []):
        line = f"{d['chat_id']}: {d['status']}"
        if d["status"] == "SENT" and d["message_id"]:
            line += f" (message {d['message_id']})"
        elif d["status"] != "SENT":
            due = show(from_db(d["next_attempt_at"])) if d["status"] == "PENDING" else ""
            line += f" ({plural(d['attempts'], 'attempt')}" + (f", next {due}" if due else "") + ")"
            line += f" — {d['last_error']}" if d["last_error"] else ""
        lines.append(inline(line))
    return Text("\n".join(lines) or inline(row["last_error"] or ""))


def outbox_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("Outbox: empty")
        return
    cols = [
        Col("Id"),
        Col("Created (IST)", 2),
        Col("Status"),
        Col("Message", wrap=True),
        Col("Delivery per chat, last error", 1, wrap=True, under=True),
    ]
    console.print(
        fitted(
            "Outbox",
            cols,
            [
                [
                    str(r["id"]),
                    show(from_db(r["created_at"])),
                    r["status"],
                    _text(r),
                    _delivery_cell(r),
                ]
                for r in rows
            ],
        )
    )


def notifications(rows: list[dict[str, Any]], total: int) -> None:
    for row in rows[:MAX_LINES]:
        console.print(f"• {inline(_text(row))}")
    if total > MAX_LINES:
        console.print(f"… and {total - MAX_LINES} more (ordertrack outbox list)")


def counts_line(title: str, counts: dict[str, int]) -> None:
    parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if v)
    console.print(f"{title}: {parts or 'nothing to check'}")


def status_view(data: dict[str, Any]) -> None:
    console.print(f"Database: {data['database']} (schema {data['schema']})")
    console.print(f"Broker: {data['broker']}; notifications: {data['notifications']}")
    counts_line("Orders", data["orders"])
    console.print(
        f"Tracked symbols: {data['tracked_symbols']}; outbox waiting: "
        f"{data['outbox']['PENDING']}, failed: {data['outbox']['FAILED']}"
    )
    for chat in data.get("telegram_chats", []):
        console.print(
            f"Telegram chat {chat['chat_id']}: sent {chat['sent']}, waiting "
            f"{chat['waiting']}, failed {chat['failed']}"
            + (f"; last error: {chat['last_error']}" if chat["last_error"] else "")
        )
    cols = [
        Col("Command"),
        Col("Started (IST)", 3),
        Col("Outcome"),
        Col("Exit", 2),
        Col("Last success (IST)", 4),
        Col("Error", 1, wrap=True, under=True),
    ]
    table = fitted(
        "Last runs",
        cols,
        [
            [
                r["command"],
                show(from_db(r["started_at"])),
                r["outcome"],
                "" if r["exit_code"] is None else str(r["exit_code"]),
                show(from_db(r["last_ok"])),
                r["error"] or "",
            ]
            for r in data["runs"]
        ],
    )
    console.print(table if data["runs"] else "No runs recorded yet.")
    if day := data.get("last_closed_day"):
        console.print(last_closed_line(day))
    if data.get("listen"):
        console.print(listen_state(data["listen"]))
    if data.get("bot"):
        console.print(bot_state_line(data["bot"]))


def bot_state_line(bot: dict[str, Any]) -> str:
    """The bot's mute and an open 409 for `status` (what /status shows on the phone)."""
    parts = []
    if bot["muted_until"]:
        until = datetime.fromisoformat(bot["muted_until"])
        parts.append(f"muted until {show(until)}, {bot['held']} held")
    if bot["conflict_since"]:
        since = datetime.fromisoformat(bot["conflict_since"])
        parts.append(
            f"409 Conflict since {show(since)}: another program reads the token"
            " ('ordertrack doctor' says which)"
        )
    return "Bot: " + "; ".join(parts)


def listen_state(row: dict[str, Any]) -> str:
    """listen's state for `status`: connected since, last frame, reconnects, pushes handled."""
    if row["ended_at"]:
        head = f"Listen ({row['broker']}): stopped at {show(from_db(row['ended_at']))}"
    elif row["state"] == "connected":
        head = (
            f"Listen ({row['broker']}): connected since"
            f" {show(from_db(row['connected_since']))}, last frame"
            f" {show(from_db(row['last_frame_at']))}"
        )
    else:
        head = f"Listen ({row['broker']}): {row['state']}"
    note = f"; {inline(row['note'])}" if row["note"] else ""
    return (
        f"{head}; reconnects {row['reconnects']}, pushes {row['pushes']},"
        f" verifies {row['verifies']}{note}"
    )


def last_closed_line(day: dict[str, Any]) -> str:
    """The last closed day's counts, as its daily summary gave them."""
    counts = ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in day.items() if k not in ("trading_day", "complete")
    )
    incomplete = "" if day["complete"] else " (incomplete: broker unreachable at eod)"
    return (
        f"Last closed trading day {date.fromisoformat(day['trading_day']):%a %d %b %Y}"
        f"{incomplete}: {counts}"
    )


def summary_tables(s: dict[str, Any]) -> None:
    """The daily summary as tables, in the words of its message (notify/messages.py)."""
    from ordertrack.notify import messages

    if not s["complete"]:
        console.print(inline(messages.summary_unreachable(s)))
    if s.get("corrected"):
        console.print(messages.SUMMARY_CORRECTED)
    cells = messages.summary_counts(s, everything=True)
    title = f"{messages.SUMMARY_TITLE} {s['trading_day']}"
    if log_mode() or sum(len(name) + 3 for name, _ in cells) < console.width:
        console.print(
            fitted(
                title,
                [Col(name, justify="right") for name, _ in cells],
                [[str(n) for _, n in cells]],
            )
        )
    else:  # too narrow for a row of counts: one count a line
        console.print(
            fitted(
                title,
                [Col("Count"), Col("", justify="right")],
                [[name, str(n)] for name, n in cells],
            )
        )
    finished = [
        (label.lower(), r)
        for kind, label in messages.SUMMARY_OUTCOMES.items()
        for r in s.get(kind, [])
    ]
    still_open = [
        (
            (
                messages.SUMMARY_PARTIAL
                if r.get("status") == "PARTIALLY_FILLED"
                else messages.SUMMARY_PENDING
            ).lower(),
            r,
        )
        for r in s.get("still_pending", [])
    ]
    day = date.fromisoformat(s["trading_day"])
    for title, rows in ((f"Finished on {day:%a %d %b}", finished), ("Still open", still_open)):
        _summary_orders_table(title, rows)
    if s["tracked"]:
        console.print(messages.summary_tracked(s))


def _summary_orders_table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    from ordertrack.notify.messages import inr

    if not rows:
        return
    cols = [
        Col("Outcome", wrap=True),
        Col("Order"),
        Col("Symbol"),
        Col("Side", 2),
        Col("Filled/Qty", 3),
        Col("Avg", 4),
        Col("Reason", 1, wrap=True, under=True),
    ]
    console.print(
        fitted(
            title,
            cols,
            [
                [
                    kind,
                    r.get("order_id") or "",
                    r["symbol"],
                    r["side"],
                    f"{r.get('filled_qty') or 0}/{r['qty']}",
                    inr(r["avg_price"]) if r.get("avg_price") else "",
                    r.get("reason") or "",
                ]
                for kind, r in rows
            ],
        )
    )


def eod_view(result: Any) -> None:
    if result.broker_error:
        console.print(f"Broker unreachable, nothing expired: {inline(result.broker_error)}")
    else:
        counts_line("Force-check", result.counts)
    if result.summary is not None:
        summary_tables(result.summary)
        if not result.summary_queued:
            console.print(f"({result.summary_skipped})")
    console.print(
        f"Archived: {plural(result.archived_orders, 'finished order')}, "
        f"{plural(result.archived_symbols, 'symbol')} with nothing left."
    )
    backup = f"backup {result.backup}" if result.backup else "no backup"
    console.print(
        f"Database: integrity {result.integrity}, {backup}, size {result.db_size / 2**20:.1f} MiB."
    )
    if getattr(result, "report", None):
        console.print(f"Report: {result.report}")
    if getattr(result, "report_error", None):
        warn(result.report_error)


def hanging(prefix: str, text: str) -> None:
    """A long line (an event, a doctor check) on a terminal: its text wrapped at word
    boundaries, continuation lines indented under it, past the prefix; in a log, one line."""
    if log_mode():
        console.print(prefix + text)
        return
    from rich.cells import cell_len
    from rich.text import Text

    indent = cell_len(prefix)
    lines = Text(text).wrap(console.rich(), max(console.width - indent, 10), overflow="fold")
    for line in lines:
        line.rstrip()
    console.print(
        Text("\n").join(
            Text(prefix if n == 0 else " " * indent) + line for n, line in enumerate(lines)
        )
    )


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 order', '2 orders'."""
    return f"{n} {word if n == 1 else words or word + 's'}"


def warn(line: str) -> None:
    """A problem that does not end the command by itself: one line on stderr."""
    prefix = f"{log_prefix()} " if log_mode() else ""
    sys.stderr.write(f"{prefix}ordertrack: {one_line(redact(line))}\n")


def delivery(report: Any, always: bool = False) -> None:
    """What a delivery pass did, in one line (nothing when there was nothing to do)."""
    for note in report.notes:
        warn(note)
    if not report.enabled:
        if always:
            console.print(
                f"Notifications are off (no TELEGRAM_BOT_TOKEN): {report.waiting} "
                "waiting in the outbox."
            )
        return
    for c in report.channels:  # each under its own name: Telegram, webhooks, hooks
        if always or c.sent or c.failed or c.waiting or c.held:
            name = inline(c.name[:1].upper() + c.name[1:])
            console.print(
                f"{name}: {c.sent} sent, {c.waiting} waiting, {c.failed} failed"
                + (" (held)." if c.held else ".")
            )
    if report.muted_until is not None and report.held:
        console.print(
            f"Muted from the bot until {show(report.muted_until)}: "
            f"{plural(report.held, 'notification')} held, sent as one digest when it ends."
        )
    if always and report.failed_before:
        console.print(
            f"{report.failed_before} failed for good earlier and are kept: see "
            "'ordertrack outbox list --status FAILED'; after a fix, "
            "'ordertrack outbox flush --retry-failed'."
        )


def self_test(checks: list[Any]) -> None:
    for check in checks:
        where = "Bot" if check.target == "bot" else f"Chat {check.target}"
        if check.ok:
            console.print(f"{where}: {inline(check.text)}")
        else:
            warn(f"{where.lower()}: {check.text}")


def decisions_table(decisions: list[Any], dry_run: bool) -> None:
    if not decisions:
        console.print("Reconcile: no tracked symbols.")
        return
    cols = [
        Col("Symbol"),
        Col("Tracked", 3),
        Col("Owned", 4),
        Col("Action"),
        Col("New qty", 2),
        Col("Reason", 1, wrap=True, under=True),
        Col("Manual orders", wrap=True),
    ]
    title = "Reconcile (dry run: nothing written)" if dry_run else "Reconcile"
    console.print(
        fitted(
            title,
            cols,
            [
                [
                    d.symbol,
                    str(d.tracked),
                    "" if d.owned is None else str(d.owned),
                    "stop tracking" if d.stops_tracking else d.action.replace("_", " "),
                    str(d.new_qty),
                    d.reason,
                    ", ".join(d.manual_orders),
                ]
                for d in decisions
            ],
        )
    )


def changes_table(changes: list[dict[str, Any]]) -> None:
    cols = [
        Col("When (IST)", 4),
        Col("Cause"),
        Col("Change", 2),
        Col("Quantity", 3),
        Col("Order"),
        Col("Note", 1, wrap=True, under=True),
    ]
    console.print(
        fitted(
            "Changes of the tracked quantity",
            cols,
            [
                [
                    show(from_db(c["at"])) if c["at"] else "",
                    c["cause"],
                    f"{c['delta']:+d}",
                    str(c["qty_after"]),
                    c["order_id"] or "",
                    c["note"] or "",
                ]
                for c in map(change_json, changes)
            ],
        )
    )


# ---- pnl -----------------------------------------------------------------------------------

_MONEY_KEYS = ("realised", "unrealised", "charges", "net", "avg_cost", "close_price", "manual")


def money_json(data: Any) -> str:
    """JSON with every amount as a number with two decimals (412.5 → 412.50)."""
    import json
    import re

    def mark(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: f"@@money:{v:.2f}@@" if k in _MONEY_KEYS and isinstance(v, float) else mark(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(data), indent=2, ensure_ascii=False)
    return re.sub(r'"@@money:(-?[0-9]+\.[0-9]{2})@@"', r"\1", text)


def emit_money_json(data: Any) -> None:
    sys.stdout.write(money_json(data) + "\n")


def _spare(widths: list[int]) -> int:
    """Columns left over on this terminal by a boxed table whose columns need `widths` (its
    padding and rules counted); negative when a cell would be cut. Log lines, off a
    terminal, have no width."""
    if log_mode():
        return 0
    return console.rich().width - (sum(widths) + 3 * len(widths) + 1)


def pnl_table(f: dict[str, Any], extras: dict[str, Any], label: str) -> None:
    from rich.table import Table

    from ordertrack.notify.messages import inr, pnl_symbol, signed_inr

    if not f["symbols"]:
        console.print(f"P&L {label}: no fills and no open holdings.", markup=False)
        return
    headings = ["Symbol", "Bought", "Sold", "Avg cost", "Realised", "Open", "Close price"]
    headings.append("Unrealised")
    rows = [
        (
            r["symbol"] + (" (manual)" if r["manual"] else ""),
            str(r["bought_qty"]),
            str(r["sold_qty"]),
            inr(r["avg_cost"]),
            signed_inr(r["realised"]),
            str(r["open_qty"]),
            inr(r["close_price"]),
            signed_inr(r["unrealised"]) if r["open_qty"] else "-",
        )
        for r in f["symbols"]
    ]
    widths = [
        max(len(w) for w in (*name.split(), *(w for row in rows for w in row[n].split())))
        for n, name in enumerate(headings)
    ]
    # without its outer rules when that is what makes it fit (80 columns, prices known)
    table = Table(title=f"P&L {label}", title_justify="left", show_edge=_spare(widths) >= 0)
    # rich does not shrink a two-word column ("Close price", "price unknown") to its longest
    # word by itself: when the cells' full widths do not fit, every column is held to it
    whole = [
        max(len(s) for s in (name, *(row[n] for row in rows))) for n, name in enumerate(headings)
    ]
    tight = _spare(whole) < 0
    for name, width in zip(headings, widths, strict=True):
        table.add_column(  # no symbol, amount or word split at the terminal's edge
            name,
            justify="left" if name == "Symbol" else "right",
            min_width=width,
            max_width=width if tight else None,
        )
    for row in rows:
        table.add_row(*row)
    if _spare(widths) < -2:  # one line a symbol, as the daily summary says it
        console.print(f"P&L {label}", markup=False)
        for r in f["symbols"]:
            line = pnl_symbol(
                r, extras["sources"].get(r["symbol"]), extras["unknown"].get(r["symbol"], 0)
            )
            console.print(f"  {line}", markup=False)
    else:
        console.print(table)
    total = f"Realised {signed_inr(f['realised'])}, unrealised {signed_inr(f['unrealised'])}"
    held = [r for r in f["symbols"] if r["open_qty"]]
    valued = sum(1 for r in held if r["unrealised"] is not None)
    if valued < len(held):  # a total of 0.00 over holdings nobody priced is no figure
        total += f" on {valued} of {len(held)} open holdings (the rest: price unknown)"
    if f["charges"] is None:
        total += " (before charges)"
    else:
        total += f"; charges {inr(f['charges'])}, net {signed_inr(f['net'])}"
    console.print(total, markup=False)
    sources = sorted({s for s in extras["sources"].values() if s})
    if sources:
        console.print(f"Unrealised valued at: {', '.join(sources)}", markup=False)
    for symbol, n in extras["unknown"].items():
        console.print(f"{symbol}: {n} fill(s) with price unknown, left out", markup=False)


def _listen_fields(event: dict[str, Any]) -> dict[str, Any]:
    at = event.get("at")
    return {**event, "at": at.isoformat() if isinstance(at, datetime) else at}


def listen_json_line(event: dict[str, Any]) -> None:
    """`listen --json`: one compact object a line, flushed (a pipe reads it at once)."""
    import json

    sys.stdout.write(storable(json.dumps(_listen_fields(event), ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def listen_line(event: dict[str, Any]) -> None:
    at = event.get("at")
    stamp = to_ist(at).strftime("%H:%M:%S") if isinstance(at, datetime) else "--:--:--"
    kind = event["event"]
    if kind == "connect":
        text = f"connected to {event['broker']}"
    elif kind == "disconnect":
        text = f"disconnected: {event['reason']}"
    elif kind == "push":
        text = f"update for {event['order_id'] or 'an order without id'}" + (
            " → verify" if event["verify"] else " (not tracked)"
        )
    elif kind == "deliver":
        text = f"delivered {event.get('sent', 0)}" + "".join(
            f", {k} {event[k]}" for k in ("undelivered", "error") if k in event
        )
    else:
        rest = ", ".join(
            f"{k} {v}" for k, v in event.items() if k not in ("event", "at", "trigger", "outcome")
        )
        text = f"verify ({event['trigger']}): {event['outcome']}" + (f", {rest}" if rest else "")
    sys.stdout.write(f"{stamp} IST {one_line(redact(text))}\n")
    sys.stdout.flush()
