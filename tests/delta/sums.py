#!/usr/bin/env python3
"""Row count and the sum of every numeric counter of each table of an archive, read
through the Delta logs by Python `deltalake` (no pmflow code): what the database
sinks' tables are compared with. Tables of one name in several systems add up, as a
database sink's one table of that name holds the rows of every system.

Usage: sums.py ARCHIVE
Prints {"<table>": {"rows": N, "sums": {"<counter>": "<sum>" or null}}} for the
counters that hold plain numbers (not vectors): an integer column's sum is exact, a
float column's correctly rounded (math.fsum); null when every value is null, as SQL's
SUM. Fails when a row key repeats within a table: the archive would then hold more
than one row per key, and its raw sums would not be what a reader of it sees.
"""
import json
import math
import os
import sys
from collections import defaultdict

import pyarrow as pa
from deltalake import DeltaTable

KEYS = {"system", "ne", "object", "period_start", "granularity_s", "suspect",
        "file_id", "ingested_at", "date"}
ROW_KEY = ["ne", "object", "period_start"]


def tables(root):
    """(table name, URI) of every table of every system under ROOT."""
    for system in sorted(os.listdir(root)):
        if system.startswith("system="):
            base = os.path.join(root, system)
            for folder in sorted(os.listdir(base)):
                yield folder.removeprefix("table="), os.path.join(base, folder)


def main():
    (root,) = sys.argv[1:]
    rows = defaultdict(int)
    values = defaultdict(lambda: defaultdict(list))
    for name, uri in tables(root):
        table = DeltaTable(uri).to_pyarrow_table()
        keys = table.group_by(ROW_KEY).aggregate([]).num_rows
        if keys != table.num_rows:
            sys.exit(f"{uri}: {table.num_rows} rows but {keys} distinct row keys")
        rows[name] += table.num_rows
        for column in table.column_names:
            kind = table.schema.field(column).type
            if column in KEYS or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                continue
            values[name][column].extend(
                v for v in table.column(column).to_pylist() if v is not None)
    print(json.dumps({
        name: {"rows": rows[name], "sums": {
            counter: None if not numbers else
            str(sum(numbers)) if all(isinstance(n, int) for n in numbers) else
            repr(math.fsum(numbers))
            for counter, numbers in values[name].items()
        }}
        for name in rows
    }))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # deltalake 1.x can abort while tearing down its runtime at exit after reading
    # many tables (see totals.py); the answer is printed by then.
    os._exit(0)
