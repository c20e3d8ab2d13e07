"""eventfn's local infrastructure: embedded Kafka and PostgreSQL, migrations, supervisor.

Run ``python -m infra --help`` for the commands ``scripts/run-all.sh`` and
``scripts/stop-all.sh`` use.
"""
