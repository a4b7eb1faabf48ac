#!/usr/bin/env python3
"""Writes the tables of a Delta archive as an archive of pmflow before 0.2 had them,
with Python deltalake and pyarrow (no pmflow code): hive folders
system=<s>/table=<t>/date=<d>/<file_id>.parquet, no Delta log, no ingested_at or date
column, vector counters as text ("1,0,3"). A source file of two rows or more is split
into two parts (<file_id>.parquet and <file_id>-1.parquet), as large files were.

Usage: to_hive.py DELTA_ARCHIVE HIVE_ARCHIVE SYSTEM
Prints the number of hive files written.
"""
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable


def as_text(column):
    """A list column as the text the old archive kept: elements joined by ','."""
    values = []
    for value in column.to_pylist():
        if value is None:
            values.append(None)
        else:
            values.append(",".join("" if v is None else str(v) for v in value))
    return pa.array(values, type=pa.string())


def main():
    source, target, system = sys.argv[1:]
    written = 0
    base = os.path.join(source, f"system={system}")
    for folder in sorted(os.listdir(base)):
        table = DeltaTable(os.path.join(base, folder)).to_pyarrow_table()
        dates = table.column("date").to_pylist()
        table = table.drop_columns(["ingested_at", "date"])
        for i, field in enumerate(table.schema):
            if pa.types.is_list(field.type):
                table = table.set_column(i, field.name, as_text(table.column(i)))
        groups = {}
        for row, (file_id, date) in enumerate(zip(table.column("file_id").to_pylist(), dates)):
            groups.setdefault((file_id, date), []).append(row)
        for (file_id, date), rows in groups.items():
            out = os.path.join(target, f"system={system}", folder, f"date={date}")
            os.makedirs(out, exist_ok=True)
            rows = pa.array(rows)
            part = table.take(rows)
            halves = [part] if part.num_rows < 2 else [part.slice(0, part.num_rows // 2), part.slice(part.num_rows // 2)]
            for n, half in enumerate(halves):
                name = f"{file_id}.parquet" if n == 0 else f"{file_id}-{n}.parquet"
                pq.write_table(half, os.path.join(out, name))
                written += 1
    print(written)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
