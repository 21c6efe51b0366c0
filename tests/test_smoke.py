from tests.helpers import kotak_row


def test_verify_executes_a_registered_order(cli, broker, sql):
    assert (
        cli(
            "pending", "add", "250122000624384", "--symbol", "IDEA", "--side", "buy", "--qty", "1"
        ).code
        == 0
    )
    broker.orders(
        kotak_row("250122000624384", "complete", symbol="IDEA", qty=1, filled=1, avg="9.39")
    )
    result = cli("verify")
    assert result.code == 0, result.err
    assert "Executed: BUY IDEA 1/1" in result.out
    assert sql("SELECT status, filled_qty FROM orders") == [("EXECUTED", 1)]
