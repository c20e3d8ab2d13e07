"""Properties of OCI's list parameters: any query is a listing that uses every
parameter it was given, or a 400; and pages cover the records exactly once."""

from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.catalog.models import AppRecord
from gateway.errors import BadRequestError
from gateway.oci.shapes import MAX_LIMIT, SORT_FIELDS, Listing

T0 = datetime(2026, 3, 1, tzinfo=UTC)

values = st.sampled_from(["", "0", "1", "10", "1000", "1001", "2147483648", "ASC", "asc", "DESC"])
queries = st.dictionaries(
    st.sampled_from(["limit", "page", "sortBy", "sortOrder", "displayName", "id"]),
    values | st.sampled_from(SORT_FIELDS) | st.text(max_size=6),
)


@settings(max_examples=300)
@given(query=queries)
@example(query={"limit": ""})
@example(query={"sortOrder": "asc"})
def test_a_query_is_a_listing_that_uses_every_parameter_given_or_a_400(query):
    try:
        listing = Listing.from_query(query.get)
    except BadRequestError:
        return
    # A parameter that was given is the one used, never silently the default.
    if "limit" in query:
        assert str(listing.limit) == query["limit"].lstrip("0")
    if "page" in query:
        assert listing.offset == int(query["page"])
    if "sortBy" in query:
        assert listing.sort_by == query["sortBy"]
    if "sortOrder" in query:
        assert listing.sort_order == query["sortOrder"]
    assert 1 <= listing.limit <= MAX_LIMIT
    assert listing.sort_by in SORT_FIELDS


@settings(max_examples=200)
@given(
    count=st.integers(0, 12),
    limit=st.integers(1, 5),
    sort_by=st.sampled_from(SORT_FIELDS),
    sort_order=st.sampled_from(["", "ASC", "DESC"]),
)
def test_following_the_pages_gives_every_record_once(count, limit, sort_by, sort_order):
    records = [
        AppRecord(f"id-{n}", f"app-{n % 4}", T0 + timedelta(seconds=n % 3), T0)
        for n in range(count)
    ]
    seen, token = [], "0"
    while token:
        listing = Listing(sort_by=sort_by, sort_order=sort_order, limit=limit, offset=int(token))
        page, token = listing.select(records)
        assert len(page) <= limit
        seen += page
    assert sorted(r.id for r in seen) == sorted(r.id for r in records)
