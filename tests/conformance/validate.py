#!/usr/bin/python3
"""Validates adbridge messages against schemas/ with python3-jsonschema, an
implementation independent of the bridge's C decoder.

  validate.py [--max-bytes N] request|reply|status FILE...   one verdict per file:
      FILE<TAB>valid   or   FILE<TAB>invalid<TAB>REASON        (exit 0)
  validate.py --expect-valid request|reply|status FILE...    lists the invalid ones; exit 1 if any
  validate.py --result-of OP reply FILE...            each FILE holds only a result (adbridge CMD
      --json): validated as the result of a reply to OP

A message is valid when it is a JSON text by the rules of schemas/README.md
(UTF-8, at most --max-bytes (default 65536 for requests), no duplicate keys, no NaN/Infinity, no NUL or
lone surrogate in any string, integers within int64) and its value validates
against request.schema.json or reply.schema.json (Draft 2020-12, formats
checked).  Exit 2 when the validator itself cannot run (never a skip)."""
import datetime
import json
import os
import re
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator, FormatChecker
except ImportError:
    sys.stderr.write("validate.py: python3-jsonschema is missing (apt-get install python3-jsonschema); "
                     "the wire contract cannot be checked without it\n")
    sys.exit(2)

SCHEMAS = os.path.join(os.environ.get("ADB_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                       "schemas")
INT64 = (-(1 << 63), (1 << 63) - 1)
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class Invalid(Exception):
    pass


def strict_load(data, max_bytes):
    if len(data) > max_bytes:
        raise Invalid("%d bytes, more than %d" % (len(data), max_bytes))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid("not UTF-8: %s" % e)

    def pairs(items):
        seen = {}
        for k, v in items:
            if k in seen:
                raise Invalid("duplicate key %r" % k)
            seen[k] = v
        return seen

    def constant(name):
        raise Invalid("%s is not JSON" % name)

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except (ValueError, RecursionError) as e:
        raise Invalid("not JSON: %s" % e)
    walk(value)
    return value


def walk(v):
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            check_string(x)
        elif isinstance(x, dict):
            for k, y in x.items():
                check_string(k)
                stack.append(y)
        elif isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, bool) or x is None:
            pass
        elif isinstance(x, int):
            if not INT64[0] <= x <= INT64[1]:
                raise Invalid("integer out of int64 range")
        elif isinstance(x, float):
            if x != x or x in (float("inf"), float("-inf")):
                raise Invalid("number out of range")


def check_string(s):
    if "\0" in s:
        raise Invalid("NUL in a string")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("lone surrogate in a string")


def load_schemas():
    store = {}
    for name in sorted(os.listdir(SCHEMAS)):
        if name.endswith(".schema.json"):
            with open(os.path.join(SCHEMAS, name), encoding="utf-8") as f:
                schema = json.load(f)
            Draft202012Validator.check_schema(schema)
            store[schema["$id"]] = schema
    return store


def format_checker():
    checker = FormatChecker()

    # jsonschema checks date-time only when rfc3339-validator is installed,
    # and skips it silently otherwise: check it here, always.
    @checker.checks("date-time", raises=ValueError)
    def date_time(value):
        if not isinstance(value, str):
            return True
        m = RFC3339.match(value)
        if m is None or value.endswith("\n"):
            raise ValueError("not RFC 3339")
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        datetime.datetime(y, mo, d, h, mi, min(s, 59))
        if h > 23 or mi > 59 or s > 60:
            raise ValueError("time out of range")
        return True

    assert "date-time" in checker.checkers
    return checker


def validator(kind):
    store = load_schemas()
    schema = store["https://adbridge.example/schemas/%s.schema.json" % kind]
    resolver = jsonschema.RefResolver.from_schema(schema, store=store)
    return Draft202012Validator(schema, resolver=resolver, format_checker=format_checker())


def verdict(v, data, max_bytes, result_of=None):
    try:
        value = strict_load(data, max_bytes)
    except Invalid as e:
        return str(e)
    if result_of is not None:
        value = {"v": 1, "id": "cli", "op": result_of, "result": value}
    errors = sorted(v.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        return "$%s: %s" % ("".join("[%r]" % p for p in e.absolute_path), e.message[:300])
    return None


def main(argv):
    expect_valid = False
    result_of = None
    max_bytes = None   # requests: 65536 (broker.max_message_bytes' default); replies: no limit here
    while argv and argv[0].startswith("--"):
        if argv[0] == "--expect-valid":
            expect_valid = True
            argv = argv[1:]
        elif argv[0] == "--max-bytes":
            max_bytes = int(argv[1])
            argv = argv[2:]
        elif argv[0] == "--result-of":
            result_of = argv[1]
            argv = argv[2:]
        else:
            sys.stderr.write("validate.py: unknown option %s\n" % argv[0])
            return 2
    if not argv or argv[0] not in ("request", "reply", "status") or (result_of is not None and argv[0] != "reply"):
        sys.stderr.write(__doc__)
        return 2
    if max_bytes is None:
        max_bytes = 65536 if argv[0] == "request" else 1 << 40
    v = validator(argv[0])
    bad = 0
    for path in argv[1:]:
        with open(path, "rb") as f:
            why = verdict(v, f.read(), max_bytes, result_of)
        if why is None:
            if not expect_valid:   # that mode lists only what is wrong
                print("%s\tvalid" % path)
        else:
            bad += 1
            print("%s\tinvalid\t%s" % (path, why.replace("\t", " ").replace("\n", " ")))
    return 1 if expect_valid and bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
