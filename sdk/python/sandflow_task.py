"""Sandflow tasks in Python, built into components with componentize-py.

A task is a function from the decoded JSON input to something JSON-serialisable::

    import sandflow_task as sf

    def handler(order):
        if not order.get("items"):
            raise sf.Failure("InvalidOrder", "the order has no items")
        return {"count": len(order["items"])}

    WitWorld = sf.task(handler)

``sf.Failure(error, cause)`` fails the Task state with that ASL error name and cause. Any
other exception fails it named by the exception's class (as AWS Lambda does), so nothing
escapes as a trap. The capability helpers raise ``Failure`` too (``Sandflow.Denied`` when
a capability was not granted). Build::

    componentize-py -d sdk/wit -w task componentize app -p DIR -p sdk/python -o task.wasm
"""

import json

from componentize_py_types import Err
from wit_world.imports import http as _http
from wit_world.imports import kv as _kv
from wit_world.imports import log as _log
from wit_world.imports import queue as _queue
from wit_world.imports.types import TaskError


class Failure(Exception):
    """An ASL failure: ``error`` is what Retry/Catch match, ``cause`` the detail."""

    def __init__(self, error, cause=""):
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


# The WIT variant cases, by the suffix of their generated class names.
_NAMES = {
    "Denied": "Sandflow.Denied",
    "TooLarge": "Sandflow.TooLarge",
    "Backend": "Sandflow.Backend",
    "InvalidRequest": "Sandflow.HttpError",
    "Transport": "Sandflow.HttpError",
    "Timeout": "Sandflow.HttpTimeout",
}


def _call(fn, *args):
    """Calls an import, turning its ``Err`` into a ``Failure``."""
    try:
        return fn(*args)
    except Err as e:
        case = type(e.value).__name__.rsplit("_", 1)[-1]
        detail = getattr(e.value, "value", None)
        raise Failure(_NAMES.get(case, "Sandflow.Error"), str(detail) if detail is not None else case) from None


def task(handler):
    """Makes ``handler(input) -> output`` the component's ``run`` export (assign the result
    to ``WitWorld`` in the app module)."""

    class WitWorld:
        def run(self, input: str) -> str:
            try:
                return json.dumps(handler(json.loads(input)))
            except Failure as f:
                raise Err(TaskError(error=f.error, cause=f.cause))
            except Err:
                raise
            except Exception as e:  # every other exception becomes a named failure
                raise Err(TaskError(error=type(e).__name__, cause=str(e)))

    return WitWorld


def kv_get(table, key):
    """The JSON value at ``key`` in ``table``, or None."""
    raw = _call(_kv.get, table, key)
    return None if raw is None else json.loads(raw)


def kv_set(table, key, value):
    _call(_kv.set, table, key, json.dumps(value).encode())


def kv_delete(table, key):
    return _call(_kv.delete, table, key)


def kv_list(table, prefix="", limit=100):
    return _call(_kv.list_keys, table, prefix, limit)


def queue_send(queue, body):
    """Sends ``body`` as JSON; returns the message id."""
    return _call(_queue.send, queue, json.dumps(body))


def queue_receive(queue, max=10):
    return [(m.id, json.loads(m.body)) for m in _call(_queue.receive, queue, max)]


def fetch(method, url, body=None, headers=()):
    """An HTTP request to a granted endpoint; returns (status, headers, body bytes)."""
    req = _http.Request(method=method, url=url, headers=list(headers), body=body)
    r = _call(_http.fetch, req)
    return r.status, r.headers, r.body


def log(message, level="info"):
    _log.write(getattr(_log.Level, level.upper()), str(message))
