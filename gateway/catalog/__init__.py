"""The Fn API v2 catalog: apps, functions and triggers, and where they are kept."""
