"""Help and usage messages that answer the question a user has (issue 14)."""

import pytest

from ordertrack.core.models import Status
from ordertrack.errors import ExitCode


@pytest.mark.parametrize(
    "args",
    [
        ["-h"],
        ["pending", "-h"],
        ["pending", "add", "-h"],
        ["verify", "-h"],
        ["outbox", "list", "-h"],
    ],
)
def test_dash_h_is_help(cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.code == 0 and result.out.startswith("Usage: ordertrack")


def test_shell_completion_is_installable(cli) -> None:
    result = cli("--help")
    assert "--install-completion" in result.out and "--show-completion" in result.out


def test_pending_list_help_names_every_status(cli) -> None:
    out = " ".join(cli("pending", "list", "--help").out.split())
    assert all(name in out for name in Status.__members__)


def test_pending_add_help_shows_the_import_columns_with_examples(cli) -> None:
    out = " ".join(cli("pending", "add", "--help").out.split())
    assert "order_id, symbol, side, qty, price, amo, placed_at, tag" in out
    assert '{"order_id": "261130000012345", "symbol": "INFY", "side": "buy", "qty": 10' in out
    assert '"order_id,symbol,side,qty,price"' in out and "261130000012345,INFY,buy,10" in out


def test_missing_qty_says_qty_is_required(cli) -> None:
    result = cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy")
    assert result.code == ExitCode.USAGE
    assert "--qty is required" in result.err


def test_pending_show_digits_suggests_the_local_number(cli) -> None:
    assert cli("pending", "add", "--symbol", "INFY", "--side", "buy", "--qty", "3").code == 0
    result = cli("pending", "show", "1")
    assert result.code == ExitCode.USAGE
    assert "did you mean '#1'" in result.err
    assert "did you mean" not in cli("pending", "show", "2").err


@pytest.mark.parametrize("option", ["--db", "--config"])
def test_a_root_option_after_the_command_says_where_it_goes(cli, option: str) -> None:
    result = cli("verify", option, "x.db")
    assert result.code == ExitCode.USAGE
    assert f"{option} belongs before the command" in result.err
    assert f"'ordertrack {option} ... verify ...'" in result.err


def test_singular_and_plural(cli, tmp_path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text('{"order_id": "11", "symbol": "INFY", "side": "buy", "qty": 1}\n')
    assert "Imported 1 order (" in cli("pending", "add", "--from", str(one)).out
    two = tmp_path / "two.jsonl"
    two.write_text(
        '{"order_id": "12", "symbol": "INFY", "side": "buy", "qty": 1}\n'
        '{"order_id": "13", "symbol": "INFY", "side": "buy", "qty": 1}\n'
    )
    assert "Imported 2 orders (" in cli("pending", "add", "--from", str(two)).out
