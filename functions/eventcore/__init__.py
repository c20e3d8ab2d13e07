"""eventfn's pure core: the event model, input parsing, batch results and alert rules.

Nothing here does I/O or imports fdk, Kafka, HTTP or database modules, so it
runs the same inside every function image and is tested without any server.
"""
