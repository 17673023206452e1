"""moto's server as the throughput benchmark runs it.

moto 5 computes every attribute of an SQS queue, counting its messages (a pass over the whole
queue, several calls of the clock per message), to read any single one of them; it does so
twice per message sent to a FIFO queue and three times per message received. At the queue
depths a benchmark keeps, that is most of moto's CPU, and on a small machine moto would set
the pace instead of billsync. Here the attributes of a queue are computed at most once per
50 ms (SQS's message counts are approximate and lag by design) and again at once when they
are set. Request logging is off.

Connections are kept alive between requests, as AWS's endpoints keep them: werkzeug's
development server closes every connection after one answer, so each AWS call would cost the
worker a new TCP connection that no AWS endpoint makes it pay. moto's app runs under waitress
(`pip install waitress`) instead, a WSGI server that keeps HTTP/1.1 connections open; without
it, the script says so and runs werkzeug.

A query of the table by partition key reads that partition's items, as DynamoDB does; moto
5 sorts every item of the table for each query, and the governor's slot leases are queried
from the same table as every flow and webhook: as the table grows, each lease query cost moto
tens of milliseconds (60 ms at 4,000 items here), all of it in line with everyone's calls.

A transaction (TransactWriteItems, a group of flows saved together) backs up the items it
names, to restore them if it is cancelled; moto 5 deep-copies every table the transaction
names instead, the whole table, which at the bench's table sizes took longer than DynamoDB
takes to answer and held up every other DynamoDB call behind it.

A FIFO queue's de-duplication, a delete by receipt and the list of visible messages are each
a pass over the whole queue in moto 5, in Python, per message sent, deleted or received: with
a backfill of 20,000 waiting that is minutes of moto's CPU per thousand invoices. Here
de-duplication ids and receipts are looked up in indexes (de-duplication ids are kept for
SQS's five minutes even after a delete, as SQS keeps them; moto forgets them), and the visible
messages are listed and counted reading the clock once.

DynamoDB requests, and SQS receives, sends and deletes, are handled one at a time, as the
tests' moto handles them (`scripts/moto_atomic.py`: moto's conditional writes and receives
are not atomic across its threads the way DynamoDB's and SQS's are). Everything else is moto as
the tests run it.
"""

import copy
import logging
import os
import sys
import time

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_here, "..", "..", "scripts"))

import moto.server  # noqa: E402
import moto_atomic  # noqa: E402
import moto.dynamodb.models as dynamodb_models  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402
from moto.sqs import models as sqs_models  # noqa: E402
from moto.sqs.exceptions import ReceiptHandleIsInvalid  # noqa: E402
from moto.sqs.models import Message, Queue  # noqa: E402

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


_query = Table.query


def _query_one_partition(self, hash_key, *args, **kwargs):
    # moto's positional order: range_comparison, range_objs, limit, exclusive_start_key,
    # scan_index_forward, projection_expressions, index_name, ...
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name or hash_key is None or not self.range_key_attr:
        return _query(self, hash_key, *args, **kwargs)
    partition = list(self.items.get(hash_key, {}).values())
    # Requests to DynamoDB are handled one at a time (moto_atomic), so no other call sees the
    # table's items narrowed to this partition while the query runs.
    self.all_items = lambda: partition
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


class _TablesNotCopied:
    """The `copy` module as moto's DynamoDB backend sees it: a table "copied" for a
    transaction's rollback is the table itself, and `_transact` restores the named items."""

    @staticmethod
    def deepcopy(value, *args, **kwargs):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(copy, name)


_transact_write_items = DynamoDBBackend.transact_write_items


def _transact(self, transact_items):
    saved = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = self.tables[op["TableName"]]
            attrs = op.get("Key") or op["Item"]
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        except (KeyError, StopIteration, AttributeError, TypeError):
            continue  # malformed: moto refuses it before writing anything
        saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(saved):
            if item is None:
                table.delete_item(hash_key, range_key)
            elif range_key is not None:
                table.items[hash_key][range_key] = item
            else:
                table.items[hash_key] = item
        raise


_add_message = Queue.add_message
_mark_received = Message.mark_received
# Receipt handle -> message, for every handle a message was received with.
_by_receipt = {}


def _add_indexed(queue, message):
    if queue.lambda_event_source_mappings:
        return _add_message(queue, message)
    dedup = message.deduplication_id
    if queue.fifo_queue and dedup:
        seen = queue.__dict__.setdefault("_bench_dedup", {})
        prior = seen.get(dedup)
        if prior is not None and (message.sent_timestamp - prior) / 1000 < sqs_models.DEDUPLICATION_TIME_IN_SECONDS:
            return None
        seen[dedup] = message.sent_timestamp
    with queue._messages_lock:
        queue._messages.append(message)
        queue._messages_lock.notify_all()
    return None


def _mark_received_indexed(message, *args, **kwargs):
    _mark_received(message, *args, **kwargs)
    _by_receipt[message.receipt_handle] = message


def _delete_indexed(queue, receipt_handle):
    if receipt_handle in queue.deleted_messages:
        return
    message = _by_receipt.get(receipt_handle)
    try:
        if message is None:
            raise ValueError
        queue._messages.remove(message)
    except ValueError:
        raise ReceiptHandleIsInvalid() from None
    queue.pending_messages.discard(message)
    handles = message.all_receipt_handles
    queue.deleted_messages.update(handles)
    for handle in handles:
        _by_receipt.pop(handle, None)


def _visible(queue):
    now = sqs_models.unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(queue):
    now = sqs_models.unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _not_visible_count(queue):
    now = sqs_models.unix_time_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


Queue.add_message = _add_indexed
Queue.delete_message = _delete_indexed
Queue.messages = property(_visible)
Queue.approximate_number_of_messages_delayed = property(_delayed_count)
Queue.approximate_number_of_messages_not_visible = property(_not_visible_count)
Message.mark_received = _mark_received_indexed
dynamodb_models.copy = _TablesNotCopied()
DynamoDBBackend.transact_write_items = _transact
Table.query = _query_one_partition
Queue.attributes = property(_attributes)
Queue._set_attributes = _set_attributes
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _serve(host, port, app, **_werkzeug_options):
    """moto's app under waitress when it is installed: HTTP/1.1 with persistent connections."""
    try:
        import waitress
    except ImportError:
        print("waitress is not installed: each AWS call opens a connection", file=sys.stderr)
        return moto_atomic.run_werkzeug(host, port, app, **_werkzeug_options)
    # Long polls hold a thread each for up to a second; every worker may have one waiting.
    waitress.serve(app, host=host, port=port, threads=64, ident="moto", _quiet=True)


moto_atomic.serve(_serve)

if __name__ == "__main__":
    moto.server.main(sys.argv[1:])
