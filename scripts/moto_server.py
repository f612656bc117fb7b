"""The project's launcher for moto's server: the local DynamoDB, SQS and Secrets Manager.

Run from the project's venv (scripts/tools.sh moto installs moto and waitress there) by
scripts/local-service.sh; not part of the function. What it adds to `moto_server`, and why
(../shared/spec/aws.md, "The local DynamoDB"; docs/decisions.md has the figures):

- waitress instead of werkzeug's development server: waitress keeps connections open, so the
  SDK does not reconnect for every request (werkzeug's server answers `Connection: close`).
- One lock around every DynamoDB request (never around SQS or Secrets Manager: an SQS long
  poll must not hold the DynamoDB side up): moto's DynamoDB has no lock of its own, and its
  server is threaded, so two conditional writes or two transactions on one item could
  interleave. Under the lock each request runs alone, as DynamoDB's per-item atomicity and
  transaction isolation promise.
- `TransactWriteItems` saves and restores only the items the transaction names. moto 5.2.6
  (moto/dynamodb/models/__init__.py, `transact_write_items`) deep-copies the whole table
  once per action, for its rollback: a 100-action transaction grew with the table (0.3-1.0
  s, and gigabytes of memory over a test run). The patch is tied to the pinned version: on
  any other the launcher refuses to start.
- `GET /_oa_moto/stats`: counters of that work (transactions, items saved for their
  rollbacks, rollbacks, DynamoDB requests) and the process's peak memory, so that tests
  assert on work done, not on time.

    python scripts/moto_server.py --port PORT [--host 127.0.0.1] [--threads N]
    python scripts/moto_server.py --check     the pinned moto is installed and patchable
"""

import argparse
import copy
import importlib.metadata
import json
import os
import re
import resource
import sys
import threading
from pathlib import Path

STATS_PATH = "/_oa_moto/stats"


def pinned_moto_version() -> str:
    """The version scripts/tools.sh pins (MOTO_PIN="moto[server]==X"): one place to change."""
    tools = Path(__file__).resolve().parent / "tools.sh"
    m = re.search(r'^MOTO_PIN="moto\[server\]==([^"]+)"', tools.read_text(), re.M)
    if not m:
        sys.exit(f"moto_server.py: no MOTO_PIN line in {tools}")
    return m.group(1)


def check_version() -> None:
    want = pinned_moto_version()
    have = importlib.metadata.version("moto")
    if have != want:
        sys.exit(
            f"moto_server.py: moto {have} is installed but scripts/tools.sh pins {want}; the "
            "TransactWriteItems patch here is written against the pinned version's source "
            "(moto/dynamodb/models/__init__.py). Run scripts/tools.sh moto, or re-read that "
            "function and this patch before changing the pin."
        )


class Stats:
    """Work counters, read by the tests through STATS_PATH."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.transactions = 0
        self.rollbacks = 0
        self.items_saved = 0
        self.dynamodb_requests = 0

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def as_json(self) -> bytes:
        with self.lock:
            body = {
                "moto_version": importlib.metadata.version("moto"),
                "transactions": self.transactions,
                "rollbacks": self.rollbacks,
                "items_saved": self.items_saved,
                "dynamodb_requests": self.dynamodb_requests,
                # Linux reports kilobytes.
                "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        return json.dumps(body).encode()


STATS = Stats()


def patch_transactions() -> None:
    """Replaces the per-action whole-table copy of `transact_write_items` with a save of the
    named items only. moto's function is kept and still run: it copies each table through
    the module's `copy.deepcopy` and, on failure, puts that copy back. The module's `copy`
    is swapped for one whose deepcopy of a Table returns the table itself (so moto's own
    rollback becomes a no-op; its one other deepcopy, of an item in `update_item`, is left
    as it was); the wrapper saves the named items before and puts them back on any
    failure, including the ones moto raises without rolling back."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class NoTableCopy:
        """`copy` as moto.dynamodb.models sees it: tables are not deep-copied."""

        @staticmethod
        def deepcopy(obj, memo=None):
            if isinstance(obj, Table):
                return obj
            return copy.deepcopy(obj, memo)

        def __getattr__(self, name):
            return getattr(copy, name)

    models.copy = NoTableCopy()
    original = models.DynamoDBBackend.transact_write_items

    def named_items(backend, transact_items):
        """(table, hash, range) of every item the transaction names, malformed ones left to
        moto to refuse (they write nothing)."""
        seen = {}
        for entry in transact_items:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            op_type, op = next(iter(entry.items()))
            if not isinstance(op, dict):
                continue
            table = backend.tables.get(op.get("TableName"))
            attrs = op.get("Item") if op_type == "Put" else op.get("Key")
            if table is None or not isinstance(attrs, dict):
                continue
            try:
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = None
                if table.range_key_attr is not None:
                    range_value = DynamoType(attrs[table.range_key_attr])
                key = (table.name, hash_value, range_value)
            except (KeyError, TypeError, AttributeError, ValueError):
                continue
            seen.setdefault(key, table)
        return seen

    def transact_write_items(self, transact_items):
        saved = []
        for (_, hash_value, range_value), table in named_items(self, transact_items).items():
            current = table.get_item(hash_value, range_value)
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
        STATS.add(transactions=1, items_saved=len(saved))
        try:
            return original(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, item in saved:
                if range_value is None:
                    if item is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = item
                else:
                    if item is None:
                        table.items[hash_value].pop(range_value, None)
                    else:
                        table.items[hash_value][range_value] = item
            STATS.add(rollbacks=1)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


def is_dynamodb(environ) -> bool:
    # The JSON protocol names the operation in X-Amz-Target: DynamoDB_20120810.PutItem.
    return environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_")


def wrap(app):
    """The WSGI app with the DynamoDB lock and the stats path."""
    ddb_lock = threading.Lock()

    def serve(environ, start_response):
        if environ.get("PATH_INFO") == STATS_PATH and environ.get("REQUEST_METHOD") == "GET":
            body = STATS.as_json()
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if not is_dynamodb(environ):
            return app(environ, start_response)
        with ddb_lock:
            STATS.add(dynamodb_requests=1)
            # The whole answer is produced under the lock (a response may be lazy).
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]

    return serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    # Threads serve requests; idle kept-alive connections take none. SQS long polls each hold
    # one for up to 20 s (the hand-off tests run several at once), hence a generous number.
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--check", action="store_true", help="check the install and exit")
    args = parser.parse_args()

    check_version()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    patch_transactions()
    if args.check:
        print(f"moto {importlib.metadata.version('moto')}: patched")
        return
    if args.port is None:
        parser.error("--port is required")

    import logging

    import waitress

    # moto builds some URLs (SQS queue URLs among them) from MOTO_PORT, as moto_server does.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # waitress warns "Task queue depth is N" whenever requests wait for a thread; under the
    # DynamoDB lock they do by design.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto_server sets it (moto/server.py)
    print(
        f"moto_server.py: moto {importlib.metadata.version('moto')} under waitress on "
        f"{args.host}:{args.port}, {args.threads} threads, pid {os.getpid()}",
        file=sys.stderr,
        flush=True,
    )
    waitress.serve(
        wrap(app),
        host=args.host,
        port=args.port,
        threads=args.threads,
        # The tests open many SDK clients, each with its own pool of kept-alive connections.
        connection_limit=1000,
        channel_timeout=300,
        ident="moto",
        _quiet=True,
    )


if __name__ == "__main__":
    main()
