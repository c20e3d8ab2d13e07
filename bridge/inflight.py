"""The records a worker has taken from Kafka and not yet finished.

A record is finished when the function has it or it is a dead letter. Until
then it is *held*, and its partition is committed only up to the lowest held
offset, so a crash redelivers it (and the functions' writes are idempotent).

A record that failed waits for its retry in a *lane* of its partition and key,
and later records of that key queue behind it: the other keys keep flowing
while it is retried, and the events of one key reach the function in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from bridge.delivery import Record

LaneKey = tuple[int, bytes | None]


class InFlight:
    def __init__(self) -> None:
        self._held: dict[int, dict[int, Record]] = {}
        self._lanes: dict[LaneKey, deque[Record]] = {}
        # when each lane's head is next due to be sent
        self._due: dict[LaneKey, float] = {}
        self._fetched: dict[int, int] = {}  # partition -> past the highest offset taken
        self._committed: dict[int, int] = {}

    def __len__(self) -> int:
        return sum(len(held) for held in self._held.values())

    @property
    def waiting(self) -> int:
        """Records in lanes: failed and waiting for a retry, or queued behind one."""
        return sum(len(lane) for lane in self._lanes.values())

    def admit(self, records: Iterable[Record]) -> list[Record]:
        """Hold new records; those free to be sent now, in order."""
        free = []
        for record in records:
            self._held.setdefault(record.partition, {})[record.offset] = record
            # where the group stood when this partition's records started coming
            self._committed.setdefault(record.partition, record.offset)
            fetched = self._fetched.get(record.partition, 0)
            self._fetched[record.partition] = max(fetched, record.offset + 1)
            if not self._queue_behind(record):
                free.append(record)
        return free

    def hold_back(self, records: Iterable[Record]) -> list[Record]:
        """Of records about to be sent, those not behind a failed record of their key."""
        return [record for record in records if not self._queue_behind(record)]

    def due(self, now: float) -> list[Record]:
        """Lane heads whose retry time has come, in partition and offset order."""
        heads = [self._lanes[key][0] for key, at in self._due.items() if at <= now]
        for head in heads:
            del self._due[(head.partition, head.key)]
        return sorted(heads, key=lambda record: (record.partition, record.offset))

    def next_due(self) -> float | None:
        return min(self._due.values(), default=None)

    def retry_at(self, record: Record, at: float) -> None:
        """``record`` failed: it heads its key's lane until ``at``."""
        if not self.holds(record):
            return  # its partition was revoked meanwhile
        key = (record.partition, record.key)
        lane = self._lanes.setdefault(key, deque())
        if not lane or lane[0] is not record:
            lane.appendleft(record)
        self._due[key] = at

    def finish(self, records: Iterable[Record], now: float) -> None:
        """Delivered or dead-lettered: no longer held; the next of a lane is due now."""
        for record in records:
            if not self.holds(record):
                continue
            del self._held[record.partition][record.offset]
            key = (record.partition, record.key)
            lane = self._lanes.get(key)
            if lane and lane[0] is record:
                lane.popleft()
                self._due.pop(key, None)
                if lane:
                    self._due[key] = now
                else:
                    del self._lanes[key]

    def commits(self) -> dict[int, int]:
        """Per partition, the offset that may be committed now, where it moved."""
        offsets = {}
        for partition, fetched in self._fetched.items():
            held = self._held.get(partition)
            offset = min(held) if held else fetched
            if offset > self._committed.get(partition, -1):
                offsets[partition] = offset
        return offsets

    def committed(self, offsets: dict[int, int]) -> None:
        self._committed.update(offsets)

    def drop(self, partitions: Iterable[int]) -> list[Record]:
        """Forget revoked partitions (their new owner redelivers what was held)."""
        dropped: list[Record] = []
        for partition in set(partitions):
            dropped += self._held.pop(partition, {}).values()
            self._fetched.pop(partition, None)
            self._committed.pop(partition, None)
            for key in [key for key in self._lanes if key[0] == partition]:
                del self._lanes[key]
                self._due.pop(key, None)
        return dropped

    def holds(self, record: Record) -> bool:
        """Still this worker's to finish (not finished, its partition not revoked)."""
        return self._held.get(record.partition, {}).get(record.offset) is record

    def _queue_behind(self, record: Record) -> bool:
        lane = self._lanes.get((record.partition, record.key))
        if not lane or lane[0] is record:
            return False
        if record not in lane:
            lane.append(record)
        return True
