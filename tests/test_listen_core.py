"""The pure decisions of `listen` (core/listen.py), with `now` passed in."""

from datetime import UTC, datetime, timedelta

from ordertrack.core.listen import Backoff, Debounce, Push, Watchdog, calls_for_verify, wait_for

T0 = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_burst_is_one_verify_ripe_one_window_after_its_first_push():
    debounce = Debounce(0.5)
    assert not debounce.waiting and debounce.due_in(at(0)) is None
    debounce.hit(at(0))
    debounce.hit(at(0.4))  # a later push does not push the verify back
    assert not debounce.ripe(at(0.3)) and debounce.due_in(at(0.3)) == 0.2
    assert debounce.ripe(at(0.5))
    debounce.taken()
    assert not debounce.waiting and not debounce.ripe(at(9))


def test_backoff_doubles_from_one_second_to_thirty_with_jitter():
    low, high = Backoff(1, 30, rand=lambda: 0.0), Backoff(1, 30, rand=lambda: 1.0)
    assert [low.next_delay() for _ in range(7)] == [0.75, 1.5, 3.0, 6.0, 12.0, 22.5, 22.5]
    assert [high.next_delay() for _ in range(7)] == [1.25, 2.5, 5.0, 10.0, 20.0, 30.0, 30.0]
    high.reset()
    assert high.next_delay() == 1.25


def test_the_watchdog_counts_signs_of_life():
    dog = Watchdog(30, at(0))
    assert not dog.expired(at(30)) and dog.expired(at(30.1))
    dog.alive(at(25))
    assert not dog.expired(at(50)) and dog.due_in(at(50)) == 5
    assert not Watchdog(None, at(0)).expired(at(10_000))


def test_which_pushes_call_for_a_verify():
    tracked, other, idless = Push("1", {}), Push("2", {}), Push(None, {})
    assert calls_for_verify(tracked, {"1"}, idless_open=False)
    assert not calls_for_verify(other, {"1"}, idless_open=False)
    assert not calls_for_verify(idless, {"1"}, idless_open=False)
    assert calls_for_verify(other, {"1"}, idless_open=True)  # it may be the unresolved one


def test_the_wait_for_a_frame_stops_at_the_nearest_deadline():
    assert wait_for(at(0), at(100), 0.3, None) == 0.3
    assert wait_for(at(0), at(0.2), None, 5.0) == 0.2
    assert wait_for(at(0), at(100), None, None) == 1.0


def test_leading_a_push_after_a_quiet_spell_is_ripe_at_once_a_burst_still_gathers():
    debounce = Debounce(0.5, leading=True)
    debounce.hit(at(0))  # nothing verified yet: quiet
    assert debounce.ripe(at(0)) and debounce.due_in(at(0)) == 0.0
    debounce.taken()
    debounce.done(at(1.0))  # the verify took a second; the burst's rest arrived meanwhile
    debounce.hit(at(1.0))
    assert not debounce.ripe(at(1.4)) and debounce.ripe(at(1.5))
    debounce.taken()
    debounce.done(at(2.0))
    debounce.hit(at(2.4))  # 0.4 s after the last verify: still gathering
    assert not debounce.ripe(at(2.4)) and debounce.ripe(at(2.9))
    debounce.taken()
    debounce.hit(at(5.0))  # quiet again since 2.0
    assert debounce.ripe(at(5.0))
