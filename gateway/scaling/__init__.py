"""Knative's KPA autoscaler for the gateway's pools: its settings (config.py),
its metric windows (windows.py) and its decisions (kpa.py), all pure."""
