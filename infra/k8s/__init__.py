"""The Kubernetes manifests eventfn derives from its own files.

``python -m infra.k8s`` renders into ``k8s/base/generated/``: a Knative Service
per ``functions/*/func.yaml`` (with ``app.yaml``), the Strimzi KafkaTopics of
``infra/topics.py`` and the ConfigMap of SQL that CloudNativePG runs from
``infra/migrations``. The builders are pure functions of what was read;
``render.py`` reads the files and ``__main__.py`` writes (or checks) them.
"""
