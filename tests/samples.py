"""Sample events from tests/events, by name."""

from pathlib import Path

EVENTS = Path(__file__).parent / "events"


def sample(name: str) -> bytes:
    return (EVENTS / name).read_bytes()
