"""Adapters the functions share: settings, Kafka, PostgreSQL and fdk responses.

This is where I/O lives; the decisions stay in :mod:`eventcore`.
"""
