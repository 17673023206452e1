"""moto's server as the throughput benchmark runs it.

moto 5 computes every attribute of an SQS queue, counting its messages (a pass over the whole
queue, several calls of the clock per message), to read any single one of them; it does so
twice per message sent to a FIFO queue and three times per message received. At the queue
depths a benchmark keeps, that is most of moto's CPU, and on a small machine moto would set
the pace instead of billsync. Here the attributes of a queue are computed at most once per
50 ms (SQS's message counts are approximate and lag by design) and again at once when they
are set. Request logging is off. Everything else is moto as the tests run it.
"""

import logging
import sys
import time

from moto.server import main
from moto.sqs.models import Queue

FRESH_FOR = 0.05

_compute = Queue.attributes.fget
_set = Queue._set_attributes


def _attributes(queue):
    now = time.monotonic()
    kept = queue.__dict__.get("_bench_attributes")
    if kept is None or now - kept[0] > FRESH_FOR:
        kept = (now, _compute(queue))
        queue.__dict__["_bench_attributes"] = kept
    return dict(kept[1])


def _set_attributes(queue, *args, **kwargs):
    queue.__dict__.pop("_bench_attributes", None)
    return _set(queue, *args, **kwargs)


Queue.attributes = property(_attributes)
Queue._set_attributes = _set_attributes
logging.getLogger("werkzeug").setLevel(logging.WARNING)

if __name__ == "__main__":
    main(sys.argv[1:])
