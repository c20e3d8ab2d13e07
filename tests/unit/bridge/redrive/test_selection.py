"""Which dead letters a redrive selects, and the record it replays."""

import re
from datetime import UTC, datetime

import pytest

from bridge.deadletter import dead_letter
from bridge.delivery import Record
from bridge.redrive.__main__ import line, main
from bridge.redrive.selection import (
    COUNT,
    TIME,
    DeadLetter,
    Decision,
    Filters,
    decide,
    failed_at,
    parse_moment,
    replay,
)
from eventcore.cloudevent import validate_event
from eventcore.kafka_binding import KafkaRecord, to_record

# 2025-01-31T12:00:00Z
NOON = datetime(2025, 1, 31, 12, tzinfo=UTC).timestamp()
SECRET = b"Bearer do-not-print"


def original(event_id: str = "ev-1", extra: list[tuple[str, bytes]] | None = None) -> Record:
    """A record as the bridge read it from the events topic."""
    event = validate_event(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/s",
            "type": "T",
            "datacontenttype": "application/json",
            "data": {"card": "4111-1111"},
            "partitionkey": "k-1",
        }
    )
    kafka = to_record(event)
    headers = [*kafka.headers, ("authorization", SECRET), *(extra or [])]
    return Record("events", 4, 17, kafka.key, kafka.value, headers, 1)


def letter_of(
    record: Record,
    function: str = "persist",
    reason: str = "PostgreSQL refused it: no",
    status: int | None = 200,
    failed: float = NOON,
    offset: int = 3,
) -> DeadLetter:
    """The dead letter the bridge writes for ``record``, as the redrive reads it back."""
    record.failed(failed, status, reason, rejected=True)
    kafka = dead_letter(record, function)
    return as_read(kafka, offset)


def as_read(kafka: KafkaRecord, offset: int = 3, timestamp_ms: int | None = None) -> DeadLetter:
    return DeadLetter(
        "events.dlq", 0, offset, kafka.key, kafka.value, tuple(kafka.headers), timestamp_ms
    )


def test_without_filters_every_dead_letter_is_replayed():
    verdict = decide(letter_of(original()), Filters())
    assert verdict.decision is Decision.REPLAY


def test_the_function_filter_matches_the_function_that_refused_it():
    alerting = letter_of(original(), function="alert")
    assert decide(alerting, Filters(function="alert")).decision is Decision.REPLAY
    verdict = decide(alerting, Filters(function="persist"))
    assert (verdict.decision, verdict.why) == (Decision.FILTERED, "function is alert")


def test_the_error_filter_searches_the_reason_and_the_status():
    refused = letter_of(original(), reason="PostgreSQL refused it: value too long", status=200)
    assert decide(refused, Filters(error=re.compile("too long"))).decision is Decision.REPLAY
    assert decide(refused, Filters(error=re.compile("^200$"))).decision is Decision.REPLAY
    assert decide(refused, Filters(error=re.compile("Too Long"))).decision is Decision.FILTERED
    assert decide(refused, Filters(error=re.compile("(?i)Too Long"))).decision is Decision.REPLAY
    # records that are no CloudEvent die without a status
    foreign = letter_of(original(), reason="not a CloudEvent: id missing", status=None)
    assert decide(foreign, Filters(error=re.compile("^200$"))).decision is Decision.FILTERED


def test_since_is_inclusive_and_until_exclusive_on_the_last_failure():
    letter = letter_of(original(), failed=NOON)
    noon = datetime.fromtimestamp(NOON, UTC)
    assert decide(letter, Filters(since=noon)).decision is Decision.REPLAY
    assert decide(letter, Filters(until=noon)).decision is Decision.FILTERED
    later = parse_moment("2025-01-31T12:00:00.001Z")
    verdict = decide(letter, Filters(since=later))
    assert verdict.decision is Decision.FILTERED
    assert verdict.why == "failed at 2025-01-31T12:00:00.000Z, before --since"
    assert decide(letter, Filters(since=parse_moment("2025-01-31"), until=later)).decision is (
        Decision.REPLAY
    )


def test_the_record_time_stands_in_for_a_missing_failure_time():
    headers = (("ce_id", b"x"), ("eventfn.error.function", b"persist"))
    stamped = DeadLetter("events.dlq", 0, 1, None, b"{}", headers, int(NOON * 1000))
    assert failed_at(stamped) == datetime.fromtimestamp(NOON, UTC)
    unstamped = DeadLetter("events.dlq", 0, 1, None, b"{}", headers, None)
    assert failed_at(unstamped) is None
    since = parse_moment("2020-01-01")
    assert decide(stamped, Filters(since=since)).decision is Decision.REPLAY
    verdict = decide(unstamped, Filters(since=since))
    assert (verdict.decision, verdict.why) == (Decision.FILTERED, "no failure time recorded")
    # no time filter: the missing time does not matter
    assert decide(unstamped, Filters()).decision is Decision.REPLAY


def test_the_replay_is_the_original_record_without_error_headers_with_the_loop_guard():
    record = original()
    letter = letter_of(record)
    moment = datetime(2025, 2, 1, 8, 30, tzinfo=UTC)
    replayed = replay(letter, moment)
    assert (replayed.key, replayed.value) == (record.key, record.value)
    assert replayed.headers == [
        *record.headers,
        (COUNT, b"1"),
        (TIME, b"2025-02-01T08:30:00.000Z"),
    ]
    assert not [name for name, _ in replayed.headers if name.startswith("eventfn.error.")]


def test_a_redriven_record_that_fails_again_keeps_its_count_and_the_loop_guard_holds_it():
    first = replay(letter_of(original()), datetime.now(UTC))
    # the bridge reads the replay from the events topic, the function refuses it again
    again = Record("events", 2, 40, first.key, first.value, first.headers, 1)
    second = letter_of(again, reason="refused again", offset=9)
    assert second.header(COUNT) == "1"
    assert second.error("reason") == "refused again"
    verdict = decide(second, Filters())
    assert verdict.decision is Decision.LOOP_GUARD
    assert verdict.why == "redriven 1 time(s) already, --max-redrives is 1"
    # the operator may allow one more, explicitly
    assert decide(second, Filters(max_redrives=2)).decision is Decision.REPLAY
    third = replay(second, datetime.now(UTC))
    assert [value for name, value in third.headers if name == COUNT] == [b"2"]
    assert [name for name, _ in third.headers if name.startswith("eventfn.")] == [COUNT, TIME]


def test_a_count_this_command_did_not_write_holds_the_record_back():
    for count in (b"one", b"-1", b"\xc2\xb2", b"9999999999"):
        letter = letter_of(original(extra=[(COUNT, count)]))
        assert letter.redrives is None
        assert decide(letter, Filters(max_redrives=100)).decision is Decision.LOOP_GUARD


def test_filters_come_before_the_loop_guard():
    letter = letter_of(original(extra=[(COUNT, b"3")]), function="alert")
    assert decide(letter, Filters(function="persist")).decision is Decision.FILTERED
    assert decide(letter, Filters(function="alert")).decision is Decision.LOOP_GUARD


def test_times_without_a_zone_are_utc_and_anything_else_is_refused():
    assert parse_moment("2025-01-31T12:00:00Z") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert parse_moment("2025-01-31T14:00:00+02:00") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert parse_moment("2025-01-31T12:00") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert parse_moment("2025-01-31") == datetime(2025, 1, 31, tzinfo=UTC)
    for text in ("yesterday", "", "31/01/2025"):
        with pytest.raises(ValueError, match="not an ISO-8601 time"):
            parse_moment(text)


def test_the_printed_line_names_the_record_and_never_its_value_or_other_headers():
    letter = letter_of(original(extra=[("ce_id", b"ev-\n1")]), reason="bad\nvalue " + "x" * 300)
    text = line(letter, decide(letter, Filters()), dry_run=True)
    assert text.startswith(
        'events.dlq[0]@3 id=ev-?1 function=persist from=events[4]@17 reason="bad\\nvalue'
    )
    assert text.endswith('…" -> would replay')
    assert "\n" not in text
    assert SECRET.decode() not in text
    assert "4111" not in text
    held = letter_of(original(extra=[(COUNT, b"1")]))
    assert line(held, decide(held, Filters()), dry_run=False).endswith(
        "-> skipped (loop guard) (redriven 1 time(s) already, --max-redrives is 1)"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--limit", "0"],
        ["--limit", "many"],
        ["--max-redrives", "0"],
        ["--error", "("],
        ["--since", "yesterday"],
        ["--since", "2025-02-01", "--until", "2025-01-31"],
        ["--timeout", "0"],
        ["--bogus"],
    ],
)
def test_bad_arguments_exit_2_before_any_kafka_call(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_two_copies_of_one_dead_letter_have_one_identity():
    first, again = letter_of(original(), offset=3), letter_of(original(), offset=9)
    assert first.identity == again.identity == ("/s", "ev-1")
    assert letter_of(original("ev-2")).identity != first.identity
    foreign = Record("events", 2, 40, b"k", b"not a cloudevent", [], 1)
    foreign.failed(NOON, 200, "no", rejected=True)
    letter = as_read(dead_letter(foreign, "persist"), offset=5)
    assert letter.identity == ("", "events[2]@40")
