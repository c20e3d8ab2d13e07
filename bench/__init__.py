"""eventfn's benchmarks: each figure beside a limit measured on the same
machine, in the same run, with the same events (``scripts/bench.sh``)."""
