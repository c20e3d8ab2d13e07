"""Redrive: replay dead letters from the dead-letter topic into the events topic."""
