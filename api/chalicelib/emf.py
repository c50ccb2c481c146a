"""The service's Prometheus metrics as CloudWatch metrics, on Lambda, in the Embedded Metric Format.

On Lambda nothing can scrape /metrics: an execution environment lives between invocations
only, and there may be hundreds of them. CloudWatch reads metrics out of the function's log
lines instead, when a line is an EMF document (a JSON object whose `_aws` key says which of its
fields are metrics and which are dimensions). So the very counters and histograms the routes
update (observability.py) are turned into EMF lines after each request: the access log line
ends every request, after its metrics were counted, so a filter on that logger takes the
change of every counter since the previous request and writes one EMF line per label set.
One execution environment serves one request at a time, so that change is this request's.

Nothing here names a metric or a label: what observability.py declares is what CloudWatch
gets (labels become dimensions; an empty label, such as `listing` off GET /users, is left out).
Counters give a metric of the same name (Count); histograms give `<name>` from the change of
their sum and count (Seconds, one value per observation: CloudWatch keeps the percentiles).
A dozen lines of JSON, so no library (and nothing more to import on a cold start).
"""

from __future__ import annotations

import json
import logging
import sys
import time

from prometheus_client import REGISTRY
from prometheus_client.registry import CollectorRegistry

ACCESS_LOGGER = "users_api.access"
# Metric families of this service only: the client library's own (process, gc) mean nothing
# per invocation.
PREFIX = "users_api_"
# CloudWatch takes at most 30 dimensions and 100 values per metric in one document.
MAX_VALUES = 100


class EmfEmitter(logging.Filter):
    """A logging filter (it never drops the record) that writes the metrics' changes as EMF."""

    def __init__(self, namespace: str, registry: CollectorRegistry = REGISTRY, stream=None) -> None:
        super().__init__()
        self.namespace = namespace
        self.registry = registry
        self.stream = stream
        self._last: dict[tuple, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - metrics must never cost the request its log line
            logging.getLogger(__name__).exception("could not write the EMF metrics")
        return True

    def documents(self) -> list[dict]:
        """The EMF documents for everything counted since the previous call."""
        counts: dict[tuple[str, tuple], float] = {}
        sums: dict[tuple[str, tuple], float] = {}
        for family in self.registry.collect():
            if not family.name.startswith(PREFIX) or family.type not in ("counter", "histogram"):
                continue
            for sample in family.samples:
                if family.type == "counter" and sample.name.endswith("_total"):
                    name, target = sample.name[: -len("_total")], counts
                elif family.type == "histogram" and sample.name.endswith("_sum"):
                    name, target = sample.name, sums
                elif family.type == "histogram" and sample.name.endswith("_count"):
                    name, target = sample.name, counts
                else:
                    continue
                labels = tuple(sorted(sample.labels.items()))
                change = sample.value - self._last.get((name, labels), 0.0)
                self._last[(name, labels)] = sample.value
                if change > 0:
                    target[(name, labels)] = change
        documents = []
        for (name, labels), change in counts.items():
            if name.endswith("_count"):
                base = name[: -len("_count")]
                total = sums.get((f"{base}_sum", labels), 0.0)
                # n observations averaging total/n: as n values, as CloudWatch expects them.
                n = min(int(change), MAX_VALUES)
                documents.append(self._document(base, "Seconds", [total / change] * n, labels))
            else:
                documents.append(self._document(name, "Count", change, labels))
        return documents

    def flush(self) -> None:
        stream = self.stream or sys.stdout
        for document in self.documents():
            stream.write(json.dumps(document, separators=(",", ":")) + "\n")
        stream.flush()

    def _document(self, metric: str, unit: str, value, labels: tuple) -> dict:
        dimensions = {key: value for key, value in labels if value != ""}
        return {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": metric, "Unit": unit}],
                }],
            },
            **dimensions,
            metric: value,
        }


_installed: EmfEmitter | None = None


def install(namespace: str) -> EmfEmitter:
    """Emit EMF after every request, from now on; once per process."""
    global _installed
    if _installed is None:
        _installed = EmfEmitter(namespace)
        access = logging.getLogger(ACCESS_LOGGER)
        access.addFilter(_installed)
        # The access line carries the metrics: it is written whatever LOG_LEVEL says.
        access.setLevel(logging.INFO)
    return _installed
