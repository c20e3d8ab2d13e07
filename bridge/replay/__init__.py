"""Replay: events archived in object storage back into the events topic."""
