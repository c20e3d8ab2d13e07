"""The bisecting round, driven by simulated functions (no I/O)."""

from collections.abc import Callable

from bridge.delivery import Record
from bridge.rounds import Round


def records(n: int) -> list[Record]:
    headers = [("ce_specversion", b"1.0"), ("ce_source", b"/s"), ("ce_type", b"T")]
    return [
        Record("events", 0, i, None, b"{}", [*headers, ("ce_id", str(i).encode())])
        for i in range(n)
    ]


def drive(
    round_: Round, answers: Callable[[list[int]], int | None]
) -> tuple[list[list[int]], list[int], list[int]]:
    """POST every chunk to a simulated function: 200, or the status of a whole failure.
    Returns the POSTs made (offsets), the offsets delivered and those blamed."""
    posts, delivered, blamed = [], [], []
    while (chunk := round_.next()) is not None:
        offsets = [r.offset for r in chunk]
        posts.append(offsets)
        status = answers(offsets)
        if status == 200:
            delivered += offsets
            blamed += [r.offset for r in round_.succeeded()]
        else:
            round_.failed(chunk, blames_no_event=status in (None, 503))
        if len(posts) > 100:
            break
    return posts, delivered, blamed


def poison(*bad: int) -> Callable[[list[int]], int]:
    return lambda offsets: 502 if set(offsets) & set(bad) else 200


def test_a_healthy_batch_is_one_post():
    posts, delivered, blamed = drive(Round([records(8)], 0), poison())
    assert posts == [list(range(8))]
    assert (delivered, blamed) == (list(range(8)), [])


def test_a_poison_event_is_isolated_by_bisection_and_the_rest_delivered_in_order():
    round_ = Round([records(8)], 0)
    posts, delivered, blamed = drive(round_, poison(5))
    assert blamed == [5]
    assert delivered == [0, 1, 2, 3, 4, 6, 7]
    assert len(posts) <= 2 * 3 + 2  # about log2(8) levels, two POSTs each
    assert round_.unwell == 0


def test_two_poison_events_are_both_isolated():
    _, delivered, blamed = drive(Round([records(16)], 0), poison(3, 12))
    assert blamed == [3, 12]
    assert delivered == [n for n in range(16) if n not in (3, 12)]


def test_an_outage_blames_no_event_and_keeps_the_first_records_first():
    round_ = Round([records(8)], 0)
    calls = []

    def down_for_six(offsets: list[int]) -> int:
        calls.append(offsets)
        return 502 if len(calls) <= 6 else 200

    posts, delivered, blamed = drive(round_, down_for_six)
    assert blamed == []
    assert sorted(delivered) == list(range(8))  # nothing lost
    assert delivered[2:] == list(range(2, 8))
    # the split reached event 0, event 1 failed too: unwell, so back to event 0
    assert posts[3:6] == [[0], [1], [0]]
    assert round_.unwell == 0


def test_a_poison_event_found_during_an_outage_is_blamed_only_once_the_function_works():
    calls = []

    def down_then_poisoned(offsets: list[int]) -> int:
        calls.append(offsets)
        return 502 if len(calls) <= 6 or 0 in offsets else 200

    _, delivered, blamed = drive(Round([records(8)], 0), down_then_poisoned)
    assert blamed == [0]
    assert delivered == list(range(1, 8))


def test_failures_that_blame_no_event_are_retried_whole_and_counted_as_unwell():
    round_ = Round([records(4)], 0)
    answers = iter([503, None, 200])
    posts, delivered, blamed = drive(round_, lambda _: next(answers))
    assert posts == [[0, 1, 2, 3]] * 3
    assert (delivered, blamed) == ([0, 1, 2, 3], [])


def test_unwell_carries_over_and_grows_until_a_success():
    round_ = Round([records(1)], 2)
    round_.failed(round_.next() or [], blames_no_event=True)
    assert round_.unwell == 3
    round_.next()
    round_.succeeded()
    assert round_.unwell == 0


def test_a_lone_failure_with_no_other_event_left_is_judged_by_an_empty_batch():
    posts, delivered, blamed = drive(Round([records(1)], 0), poison(0))
    assert (posts, delivered, blamed) == ([[0], []], [], [0])


def test_an_empty_batch_that_fails_too_means_an_outage_and_blames_nobody():
    answers = iter([502, 502, 502, 200, 200, 200])
    round_ = Round([records(1)], 0)
    posts, delivered, blamed = drive(round_, lambda _: next(answers))
    # the event, the empty batch (unwell), the event, the empty batch (recovered),
    # then the event alone again: delivered, nobody blamed
    assert posts == [[0], [], [0], [], [0]]
    assert (delivered, blamed) == ([0], [])
