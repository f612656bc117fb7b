"""The project's launcher for moto's server: the local DynamoDB, SQS and Secrets Manager.

Run from the project's venv (scripts/tools.sh moto installs moto and waitress there) by
scripts/local-service.sh; not part of the function. What it adds to `moto_server`, and why
(../shared/spec/aws.md, "The local DynamoDB"; docs/decisions.md has the figures):

- waitress instead of werkzeug's development server: waitress keeps connections open, so the
  SDK does not reconnect for every request (werkzeug's server answers `Connection: close`).
- Locks around DynamoDB requests (never around SQS or Secrets Manager: an SQS long poll
  must not hold the DynamoDB side up): moto's DynamoDB has no lock of its own, and its
  server is threaded, so two conditional writes or two transactions on one item could
  interleave. A request holds the lock of each table it names ([`Locks`]), so on a table
  each runs alone, as DynamoDB's per-item atomicity and transaction isolation promise.
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
import collections
import contextlib
import copy
import importlib.metadata
import io
import json
import os
import re
import resource
import sys
import threading
import urllib.parse
from pathlib import Path

STATS_PATH = "/_oa_moto/stats"
# Both on, always, except when showing that the tests catch their loss (--without).
LOCK_DYNAMODB = True
PATCH_ROLLBACK = True


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
    """Work counters, read by the tests through STATS_PATH: totals, and the transaction
    counters per table (tests share the server; each asks about its own table)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.totals = dict.fromkeys(
            ["dynamodb_requests", "transactions", "rollbacks", "items_saved", "table_copies"], 0
        )
        self.tables: dict[str, dict[str, int]] = {}

    def add(self, table: str | None = None, **counts: int) -> None:
        with self.lock:
            per_table = None
            if table is not None:
                per_table = self.tables.setdefault(
                    table, dict.fromkeys(["transactions", "rollbacks", "items_saved", "table_copies"], 0)
                )
            for name, n in counts.items():
                self.totals[name] += n
                if per_table is not None:
                    per_table[name] += n

    def as_json(self, table: str | None) -> bytes:
        with self.lock:
            body = {
                "moto_version": importlib.metadata.version("moto"),
                "lock": LOCK_DYNAMODB,
                "rollback_patch": PATCH_ROLLBACK,
                **self.totals,
                # Linux reports kilobytes.
                "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
            if table is not None:
                body["table"] = dict(self.tables.get(table, {}))
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
        """`copy` as moto.dynamodb.models sees it: tables are not deep-copied (with the
        patch off they are, and counted)."""

        @staticmethod
        def deepcopy(obj, memo=None):
            if isinstance(obj, Table):
                if PATCH_ROLLBACK:
                    return obj
                STATS.add(table=obj.name, table_copies=1)
            return copy.deepcopy(obj, memo)

        def __getattr__(self, name):
            return getattr(copy, name)

    models.copy = NoTableCopy()
    original = models.DynamoDBBackend.transact_write_items

    def named_items(backend, transact_items):
        """(table name, hash, range) -> table, for every item the transaction names;
        malformed entries are left to moto to refuse (they write nothing)."""
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
        named = named_items(self, transact_items)
        per_table = collections.Counter(name for name, _, _ in named)
        if not PATCH_ROLLBACK:
            for name in per_table:
                STATS.add(table=name, transactions=1)
            return original(self, transact_items)
        saved = [
            (table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value)))
            for (_, hash_value, range_value), table in named.items()
        ]
        for name, n in per_table.items():
            STATS.add(table=name, transactions=1, items_saved=n)
        try:
            return original(self, transact_items)
        except BaseException:
            touched = set()
            for table, hash_value, range_value, item in saved:
                touched.add(table.name)
                if range_value is None:
                    if item is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = item
                elif item is None:
                    table.items[hash_value].pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = item
            for name in touched:
                STATS.add(table=name, rollbacks=1)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


def patch_query() -> None:
    """Lists a query's own partition only. moto 5.2.6's `Table.query` (models/table.py)
    takes every item of the table, sorted (`all_items`), and keeps those of the queried
    partition key: each query on the table grew with the table (the property test's table
    holds every case's accounts). While a query on the table itself (not an index) runs,
    `all_items` lists that partition only, sorted the same way, so the query's answer and
    order are unchanged. Queries on an index and scans go the long way."""
    import contextvars
    import inspect

    from moto.dynamodb.models.table import Table

    partition = contextvars.ContextVar("oa_moto_query_partition", default=None)
    original_query = Table.query
    original_all_items = Table.all_items

    # `index_name` by keyword or by position (models/__init__.py passes it by position).
    index_at = list(inspect.signature(original_query).parameters).index("index_name") - 2

    def query(self, hash_key, *args, **kwargs):
        index_name = args[index_at] if len(args) > index_at else kwargs.get("index_name")
        if index_name or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        token = partition.set(hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            partition.reset(token)

    def all_items(self):
        hash_key = partition.get()
        if hash_key is None:
            return original_all_items(self)
        held = self.items.get(hash_key)
        if held is None:
            return []
        items = list(held.values()) if self.range_key_attr else [held]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    Table.query = query
    Table.all_items = all_items


def plain(v) -> bool:
    """Whether a value is JSON as it stands: strings, booleans, lists and string-keyed maps
    of them (what moto keeps an attribute value as, binary aside)."""
    t = type(v)
    if t is str or t is bool:
        return True
    if t is dict:
        return all(type(k) is str and plain(x) for k, x in v.items())
    if t is list:
        return all(plain(x) for x in v)
    return False


def patch_serializer() -> None:
    """Writes DynamoDB attribute values out as they are held. moto 5.2.6 serialises every
    answer by walking the service's shapes member by member (moto/core/serialize.py), which
    spent nine tenths of a 300-item Query's time (about 0.6 ms an item here). An attribute
    value that is already plain JSON (everything but binary) comes out the same without the
    walk; any other goes the long way."""
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self, serialized, value, shape, key):
        if (
            key
            and shape.name == "AttributeValue"
            and self.operation_model.service_model.service_name == "dynamodb"
            and type(value) is dict
            and plain(value)
        ):
            self._default_serialize(serialized, value, shape, key)
            return
        original(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = serialize_structure


# Operations on a table's items, and where their request names the tables.
ITEM_OPERATIONS = {
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
    "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
}


def tables_named(operation: str, request: dict) -> set[str]:
    """The tables an item operation reads or writes, from its request."""
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return set(request.get("RequestItems") or {})
    if operation in ("TransactGetItems", "TransactWriteItems"):
        names = set()
        for entry in request.get("TransactItems") or []:
            for op in (entry or {}).values():
                if isinstance(op, dict) and isinstance(op.get("TableName"), str):
                    names.add(op["TableName"])
        return names
    name = request.get("TableName")
    return {name} if isinstance(name, str) else set()


class Locks:
    """DynamoDB's isolation, per table: an item operation holds the lock of every table it
    names (taken in name order, so two never wait on each other) and shares the catalogue;
    any other operation (create, delete, describe a table...) holds the catalogue alone.
    One lock for all tables would serve a 5 ms GetItem after another test's 1 s Scan;
    per table, the interpreter shares its time between them."""

    def __init__(self) -> None:
        self.guard = threading.Condition()
        self.sharing = 0  # item operations under way
        self.exclusive = False
        # Catalogue operations waiting: new item operations wait behind them, so that a
        # steady flow of item operations cannot hold a CreateTable off for ever.
        self.queued = 0
        self.tables: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def hold(self, operation: str, request: dict):
        if operation not in ITEM_OPERATIONS:
            with self.guard:
                self.queued += 1
                self.guard.wait_for(lambda: not self.exclusive and self.sharing == 0)
                self.queued -= 1
                self.exclusive = True
            try:
                yield
            finally:
                with self.guard:
                    self.exclusive = False
                    self.guard.notify_all()
            return
        with self.guard:
            self.guard.wait_for(lambda: not self.exclusive and self.queued == 0)
            self.sharing += 1
            names = sorted(tables_named(operation, request))
            locks = [self.tables.setdefault(n, threading.Lock()) for n in names]
        try:
            with contextlib.ExitStack() as stack:
                for lock in locks:
                    stack.enter_context(lock)
                yield
        finally:
            with self.guard:
                self.sharing -= 1
                self.guard.notify_all()


def wrap(app):
    """moto's dispatcher `app` with the DynamoDB locks and the stats path (`?table=NAME`
    adds that table's transaction counters)."""
    locks = Locks()
    dynamodb_app = []

    def serve(environ, start_response):
        if environ.get("PATH_INFO") == STATS_PATH and environ.get("REQUEST_METHOD") == "GET":
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            body = STATS.as_json(query.get("table", [None])[0])
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        # The JSON protocol names the operation in X-Amz-Target: DynamoDB_20120810.PutItem.
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_") or not LOCK_DYNAMODB:
            return app(environ, start_response)
        # Read the request to find its tables, and hand moto a copy.
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            request = {}
        if not isinstance(request, dict):
            request = {}
        if not dynamodb_app:
            # moto's dispatcher matches every request's host and headers against each
            # service's patterns (moto/moto_server/werkzeug_app.py); DynamoDB's app is one
            # for all regions, so it is found once.
            dynamodb_app.append(app.get_application(environ))
        with locks.hold(target.rpartition(".")[2], request):
            STATS.add(dynamodb_requests=1)
            # The whole answer is produced under the lock (a response may be lazy).
            result = dynamodb_app[0](environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]

    return serve


def freeze_after_full_collections() -> None:
    """Objects that outlive a full collection are frozen (`gc.freeze`): the next full
    collection walks only what came after. moto keeps every item as Python objects, so a
    full collection walks the whole table with every thread stopped: 0.5-0.8 s once a
    benchmark's table held ~40 000 items, time that a write waiting for it spent past the
    function's 1.4 s budget. What is frozen is still freed when nothing refers to it; only
    a cycle among frozen objects is never collected."""
    import gc

    def after(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.callbacks.append(after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    # Threads serve requests; idle kept-alive connections take none. SQS long polls each hold
    # one for up to 20 s (the hand-off tests run several at once), hence a generous number.
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--check", action="store_true", help="check the install and exit")
    # Only to show that tests/it/engine.rs fails without them; nothing else passes it.
    parser.add_argument("--without", choices=["lock", "rollback-patch"], action="append", default=[])
    args = parser.parse_args()
    global LOCK_DYNAMODB, PATCH_ROLLBACK
    LOCK_DYNAMODB = "lock" not in args.without
    PATCH_ROLLBACK = "rollback-patch" not in args.without

    check_version()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    patch_transactions()
    patch_serializer()
    patch_query()
    freeze_after_full_collections()
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
        f"{args.host}:{args.port}, {args.threads} threads, pid {os.getpid()}"
        + "".join(f", WITHOUT the {w}" for w in args.without),
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
