"""Fault tests: publish events while components die, then check that none was lost or doubled.

Jepsen-style, in layers that read on their own:

- ``events``, ``history``, ``checker``: pure. What an event looks like, the
  history of what the generator asked and heard, and the verdict computed from
  that history and what the system holds at the end.
- ``stack``, ``generator``, ``poison``, ``nemesis``, ``pause``, ``groups``,
  ``offsets``, ``readback``: the I/O. The stack under ``scripts/run-all.sh``,
  the HTTP publishers, the records produced straight to Kafka, the SIGKILLs
  and the SIGSTOP, the consumer groups as the broker sees them, the
  committed-offset sampler, the final reads of PostgreSQL and Kafka.
- ``run``: one run from start to verdict; ``python -m tests.faults`` and
  ``test_faults.py`` call it.
"""
