"""Properties of batches: a result survives its bytes, and a batch splits into
events and failures, or is refused as a whole, whatever it holds."""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from eventcore.batch import BatchResult, Failure, parse_batch
from eventcore.errors import InvalidEventError

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
texts = st.text(st.characters(codec="utf-8"), max_size=30)
failures = st.builds(
    Failure,
    id=st.none() | texts,
    source=st.none() | texts,
    reason=texts,
    retryable=st.booleans(),
)
counts = st.dictionaries(
    texts.filter(lambda name: name != "failures"), st.integers(-(2**63), 2**64 - 1), max_size=4
)


@settings(max_examples=300)
@given(failures=st.lists(failures, max_size=5).map(tuple), counts=counts)
def test_a_batch_result_survives_its_bytes(failures, counts):
    result = BatchResult(failures, counts)
    assert BatchResult.from_bytes(result.to_bytes()) == result


@settings(max_examples=300)
@given(body=st.binary(max_size=200) | json_values.map(orjson.dumps))
def test_any_answer_is_a_batch_result_or_a_value_error(body):
    try:
        result = BatchResult.from_bytes(body)
    except ValueError:
        return
    assert all(isinstance(failure, Failure) for failure in result.failures)


event_like = st.fixed_dictionaries(
    {},
    optional={
        "specversion": st.sampled_from(["1.0", "0.3"]) | json_values,
        "id": texts | json_values,
        "source": texts | json_values,
        "type": texts | json_values,
        "datacontenttype": st.sampled_from(["application/json", "text/plain"]) | json_values,
        "data": json_values,
        "data_base64": st.sampled_from(["", "eyJ9", "!!"]) | json_values,
        "ext1": json_values,
    },
)
batches = st.lists(event_like | json_values, max_size=6)


@settings(max_examples=400)
@given(body=batches.map(orjson.dumps) | json_values.map(orjson.dumps) | st.binary(max_size=200))
def test_every_entry_of_a_batch_is_an_event_or_a_failure(body):
    try:
        parsed = parse_batch(body)
    except InvalidEventError:
        assert not isinstance(_loads(body), list)
        return
    assert len(parsed.events) + len(parsed.failures) == len(orjson.loads(body))
    assert not any(failure.retryable for failure in parsed.failures)


def _loads(body):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
