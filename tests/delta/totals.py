#!/usr/bin/env python3
"""Totals of an archive read through its Delta logs, and of the source files, by
readers that share no code with pmflow: Python `deltalake` for the archive, the
standard library's XML parser for 3GPP files.

Usage: totals.py ARCHIVE SYSTEM FILE...
ARCHIVE is a directory or an s3://bucket/prefix URL (read with the AWS_* environment
variables, its tables listed with boto3).
Prints one JSON object: {"archive": {"rows": N, "values": N, "sum": X},
"files": {...the same...}}. `values` counts non-null numbers in counter cells (each
element of a vector), `sum` adds them; key columns and `ingested_at` are not
counters.
"""
import json
import math
import os
import sys
import xml.etree.ElementTree as ET

from deltalake import DeltaTable

KEYS = {"system", "ne", "object", "period_start", "granularity_s", "suspect",
        "file_id", "ingested_at", "date"}


def table_uris(root, system):
    """The URIs of the tables of SYSTEM under ROOT."""
    if not root.startswith("s3://"):
        base = os.path.join(root, f"system={system}")
        return [os.path.join(base, folder) for folder in sorted(os.listdir(base))]
    import boto3
    bucket, _, prefix = root[len("s3://"):].partition("/")
    prefix = f"{prefix.strip('/')}/system={system}/".lstrip("/")
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
    folders = sorted(p["Prefix"] for p in listing.get("CommonPrefixes", []))
    return [f"s3://{bucket}/{folder.rstrip('/')}" for folder in folders]


def archive_totals(root, system):
    rows = values = 0
    sums = []
    for uri in table_uris(root, system):
        table = DeltaTable(uri).to_pyarrow_table()
        rows += table.num_rows
        for name in table.column_names:
            if name in KEYS:
                continue
            for value in table.column(name).to_pylist():
                for number in value if isinstance(value, list) else [value]:
                    if isinstance(number, (int, float)) and not isinstance(number, bool):
                        values += 1
                        sums.append(number)
    return {"rows": rows, "values": values, "sum": math.fsum(sums)}


def file_totals(paths):
    rows = values = 0
    sums = []
    for path in paths:
        for _, element in ET.iterparse(path):
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "measValue":
                rows += 1
            elif tag == "r" and element.text is not None:
                for item in element.text.split(","):
                    try:
                        number = float(item)
                    except ValueError:
                        continue
                    values += 1
                    sums.append(number)
    return {"rows": rows, "values": values, "sum": math.fsum(sums)}


def main():
    root, system, *paths = sys.argv[1:]
    print(json.dumps({"archive": archive_totals(root, system), "files": file_totals(paths)}))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # deltalake 1.x can abort while tearing down its runtime at exit after reading
    # many tables ("terminate called without an active exception"); the answer is
    # printed by then.
    os._exit(0)
