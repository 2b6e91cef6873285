#!/usr/bin/python3
"""schema_check.py SCHEMA - validates documents against one of mtq's JSON
Schemas (schemas/*.schema.json), as a client that nobody on mtq wrote would:
with Debian's python3-jsonschema, not with mtq's own reader.

Reads one document a line on stdin, in the relaxed extended JSON that
dbedit prints (ObjectIds as {"$oid": ...}, dates as {"$date": ...}).  Prints
every violation with the document's _id and exits 1 when there was one."""
import json
import sys

import jsonschema


def main():
    if len(sys.argv) != 2:
        print("usage: schema_check.py SCHEMA < documents", file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    n = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        n += 1
        doc = json.loads(line)
        for err in validator.iter_errors(doc):
            bad += 1
            where = "/".join(str(p) for p in err.absolute_path) or "(document)"
            print(f"{doc.get('_id')}: {where}: {err.message}", file=sys.stderr)
    if n == 0:
        print("schema_check.py: no document on stdin", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
