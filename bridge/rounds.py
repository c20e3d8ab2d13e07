"""One round of POSTs over the records ready to send, and what a failed POST means.

A POST that fails as a whole (500, 502, 504, an unreadable answer) may be the
work of one event that crashes or hangs the function, or of a function (or its
database) that is down. The round tells them apart the way Lambda's
BisectBatchOnFunctionError does, without ever blaming an event for an outage:

- a failed POST of several events is split in two, and the halves are sent in
  order, at once;
- a failed POST of one event makes it a *suspect*; if the next POST (of other
  events) succeeds, the function works and the suspect is blamed;
  with no other event left, the next POST is an empty batch, which a function
  answers the way it would answer events (persist and alert check their
  database);
- if the next POST fails too, the function is unwell: both go back to the
  front, in offset order, and the worker waits (with backoff) before each POST
  until one succeeds; a suspect left from the outage is then tried again, at
  once and without blame. A POST that blames no event at all (the gateway
  unreachable or busy) counts as unwell the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from bridge.delivery import Record


class Round:
    """The POSTs to make, in order. ``unwell`` (consecutive failures that blame
    no event) carries over from one round to the next."""

    def __init__(self, chunks: Sequence[list[Record]], unwell: int) -> None:
        self._queue: deque[list[Record]] = deque(chunk for chunk in chunks if chunk)
        self._suspect: Record | None = None
        self.unwell = unwell

    @property
    def suspect(self) -> Record | None:
        """The event that failed alone, awaiting the next POST's verdict."""
        return self._suspect

    def next(self) -> list[Record] | None:
        """The next POST's records, or ``[]`` for an empty batch that asks for a
        verdict on the suspect when no other event is left; the caller waits
        first while ``unwell``."""
        if self._queue:
            return self._queue.popleft()
        return [] if self._suspect is not None else None

    def succeeded(self) -> list[Record]:
        """A POST got an answer: the records now blamed for failing alone."""
        recovered, self.unwell = self.unwell > 0, 0
        suspect, self._suspect = self._suspect, None
        if suspect is None:
            return []
        if recovered:
            # It may have failed only because the outage had not ended yet:
            # it gets a verdict of its own, now, without blame.
            self._queue.appendleft([suspect])
            return []
        return [suspect]

    def failed(self, chunk: list[Record], blames_no_event: bool) -> None:
        """A POST of ``chunk`` failed as a whole (each record's failure already noted)."""
        if blames_no_event:
            self._back(chunk)
        elif self._suspect is None and len(chunk) > 1:
            half = len(chunk) // 2
            self._queue.extendleft((chunk[half:], chunk[:half]))  # left half first
        elif self._suspect is None:
            self._suspect = chunk[0]
        else:
            # Two POSTs of different events failed in a row: not their fault.
            self._back(chunk)

    def _back(self, chunk: list[Record]) -> None:
        self.unwell += 1
        if chunk:  # an empty batch comes back by itself while a suspect waits
            self._queue.appendleft(chunk)
        if self._suspect is not None:
            self._queue.appendleft([self._suspect])
            self._suspect = None
