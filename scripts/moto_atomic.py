"""moto's server with the atomicity that DynamoDB and SQS guarantee, for the tests and the bench.

moto serves each request on a thread of its own and keeps its state in Python objects with no
lock, so two requests at once can see what neither would see from the real service:

- DynamoDB evaluates a condition expression and makes the write atomically per item; moto
  checks, then writes, so two conditional writes racing on one item can both pass (seen as
  two writers advancing one flow version, and as two processes taking one NetSuite slot).
  DynamoDB requests are handled one at a time here.
- SQS hands a message to one receiver at a time; moto checks that a message is visible, then
  marks it received, so two receives racing can both take it (seen as one invoice's flow run
  by two workers at once). SQS receives, sends and deletes are handled one at a time here; a
  receive that long-polls lets go of its turn while it waits.

Run it as moto's server: `python3 scripts/moto_atomic.py -H 127.0.0.1 -p 5000`. Another
launcher (the benchmark's) imports it and passes its own WSGI server to `serve`.
"""

import sys
import threading

import moto.server
from moto.sqs.models import Queue, SQSBackend

_dynamodb = threading.Lock()


def atomic_dynamodb(app):
    """A WSGI app that passes DynamoDB requests to `app` one at a time."""

    def wrapped(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _dynamodb:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


_sqs = threading.Lock()
_turn = threading.local()


def _one_at_a_time(method):
    def wrapped(*args, **kwargs):
        # A batch call that makes single calls already has the turn.
        if getattr(_turn, "held", False):
            return method(*args, **kwargs)
        with _sqs:
            _turn.held = True
            try:
                return method(*args, **kwargs)
            finally:
                _turn.held = False

    return wrapped


_wait_for_messages = Queue.wait_for_messages


def _wait_without_the_turn(queue, timeout):
    if not getattr(_turn, "held", False):
        return _wait_for_messages(queue, timeout)
    _turn.held = False
    _sqs.release()
    try:
        return _wait_for_messages(queue, timeout)
    finally:
        _sqs.acquire()
        _turn.held = True


for _name in (
    "receive_message",
    "send_message",
    "send_message_batch",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
):
    if hasattr(SQSBackend, _name):
        setattr(SQSBackend, _name, _one_at_a_time(getattr(SQSBackend, _name)))
Queue.wait_for_messages = _wait_without_the_turn

# werkzeug's threaded server, as moto runs it.
run_werkzeug = moto.server.run_simple


def serve(run=run_werkzeug):
    """Makes moto's server run its app through `atomic_dynamodb`, under `run(host, port, app,
    **options)`."""

    def start(host, port, app, **options):
        return run(host, port, atomic_dynamodb(app), **options)

    moto.server.run_simple = start


if __name__ == "__main__":
    serve()
    moto.server.main(sys.argv[1:])
