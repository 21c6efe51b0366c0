"""Reliability report: the overlap and crash scenarios of tests/reliability.py at a larger size
than CI, as a table of figures: Telegram notifications and, in the crash runs, the webhook's
events (counted by Idempotency-Key). Exits 1 if any promise was broken (and lists them).

    python scripts/reliability_report.py [--orders 40] [--rounds 3] [--trials 40] [--phases 4]

Needs the test extras (`pip install -e '.[test]'`): the fake Kotak Neo and Telegram servers
live in tests/. The defaults finish in about five minutes on two cores.
"""

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import reliability  # noqa: E402
from tests.reliability import COMMANDS, CrashSettings, Figures  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=40, help="orders in the overlap scenario")
    parser.add_argument("--verifies", type=int, default=8, help="verify processes at once")
    parser.add_argument("--rounds", type=int, default=3, help="overlap scenarios to run")
    parser.add_argument("--trials", type=int, default=40, help="crash trials per command")
    parser.add_argument(
        "--phases",
        type=int,
        default=4,
        help="broker states per trial: each a killed run and a clean re-run",
    )
    parser.add_argument(
        "--commands", default=",".join(COMMANDS), help="commands to kill, comma-separated"
    )
    parser.add_argument("--workers", type=int, default=6, help="crash trials run at once")
    parser.add_argument(
        "--broker-faults",
        type=float,
        default=0.2,
        help="chance that a killed run's broker read is unusable",
    )
    parser.add_argument(
        "--telegram-faults",
        type=float,
        default=0.2,
        help="chance that a killed run's first message is answered too late",
    )
    parser.add_argument("--chats", type=int, default=2, help="Telegram chats in the crash runs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the databases in this folder")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    commands = tuple(c.strip() for c in args.commands.split(",") if c.strip())
    if not set(commands) <= set(COMMANDS):
        sys.exit(f"--commands: choose from {', '.join(COMMANDS)}")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="ordertrack-reliability-"))
    started = time.monotonic()
    try:
        overlap = Figures("overlap")
        for n in range(args.rounds):
            overlap.add(
                reliability.overlap(
                    workdir / f"overlap-{n}", orders=args.orders, verifies=args.verifies
                )
            )
        settings = CrashSettings(
            trials=args.trials,
            phases=args.phases,
            workers=args.workers,
            broker_faults=args.broker_faults,
            telegram_faults=args.telegram_faults,
            chats=tuple(str(1001 + i) for i in range(args.chats)),
            seed=args.seed,
        )
        crashes = reliability.crash(workdir / "crash", commands, settings) if args.trials else []
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    total = Figures("total")
    for figures in (overlap, *crashes):
        total.add(figures)
    print(reliability.table([overlap, *crashes, total]))
    print()
    print(
        f"overlap: {args.rounds} × ({args.verifies} verify + 1 eod at once, {args.orders} orders"
        f", 2 chats); Kotak logins {overlap.logins} for {args.rounds} databases; exit codes "
        f"{dict(sorted(overlap.exit_codes.items()))}"
    )
    codes = sum((f.exit_codes for f in crashes), Counter())
    print(
        f"crash: {args.trials} trials × {args.phases} phases of {', '.join(commands)}, "
        f"{args.chats} chat(s); exit codes {dict(sorted(codes.items()))} (-9: killed)"
    )
    kills = sum(f.kills for f in crashes)
    stages = sum((f.stages for f in crashes), Counter())
    print(
        f"kills by what the database and Telegram show afterwards ({kills}): "
        + ", ".join(f"{stage} {n}" for stage, n in stages.most_common())
    )
    print(
        f"kills between Telegram taking a message and the database recording it: "
        f"{total.unrecorded_sends}; Telegram replies after the read timeout: "
        f"{total.telegram_faults}; deliveries left FAILED after two unknown outcomes: "
        f"{total.failed}"
    )
    webhook = Figures("webhook")
    for figures in crashes:
        webhook.add(figures)
    print(
        f"webhook (crash runs, every kind): {webhook.webhook_delivered} feed events delivered, "
        f"{webhook.webhook_duplicates_explained} sent again with the same Idempotency-Key "
        f"after a kill, {webhook.webhook_duplicates_unexplained} unexplained duplicates, "
        f"{webhook.webhook_lost} lost; kills between the receiver taking an event and the "
        f"database recording it: {webhook.webhook_unrecorded}"
    )
    print(f"{time.monotonic() - started:.0f} s")
    if total.problems:
        print(f"\n{len(total.problems)} PROBLEMS:")
        print("\n".join(f"- {p}" for p in total.problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
