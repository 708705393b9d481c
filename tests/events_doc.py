#!/usr/bin/python3
"""Every event name a program of adbridge logs must be documented.

  events_doc.py SRC_DIR EVENTS_MD

Finds every adb_log(LOGGER, LEVEL, EVENT, ...) call in SRC_DIR/**/*.c (calls
spanning lines, and EVENT written as `cond ? "a" : "b"`, included), takes each
string literal of the EVENT argument, and looks for it in EVENTS_MD as a table
row's first cell (| `name` |).  An EVENT that is not a string literal is
reported too: a name computed at run time cannot be documented.  Prints
  events=N missing=M
then one line per missing name (with where it is logged); exit 1 if any.
"""
import pathlib
import re
import sys


def calls(text):
    """(line, [args]) of each adb_log( call, splitting top-level commas."""
    for m in re.finditer(r'\badb_log\s*\(', text):
        i, depth, quote, cur, args = m.end(), 1, None, '', []
        while i < len(text) and depth:
            c = text[i]
            if quote:
                cur += c
                if c == '\\':
                    cur += text[i + 1]
                    i += 1
                elif c == quote:
                    quote = None
            elif c in '"\'':
                quote = c
                cur += c
            elif c in '([{':
                depth += 1
                cur += c
            elif c in ')]}':
                depth -= 1
                if depth:
                    cur += c
            elif c == ',' and depth == 1:
                args.append(cur)
                cur = ''
            else:
                cur += c
            i += 1
        args.append(cur)
        yield text.count('\n', 0, m.start()) + 1, args


def main():
    src, doc = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text()
    documented = set(re.findall(r'^\|\s*`([a-z0-9_]+)`\s*\|', doc, re.M))
    found, problems = {}, []
    for path in sorted(src.rglob('*.c')):
        for line, args in calls(path.read_text()):
            if len(args) < 4 or path.name == 'log.c' and 'const char *event' in args[2]:
                continue   # the definition
            names = re.findall(r'"([^"]*)"', args[2])
            where = '%s:%d' % (path.relative_to(src.parent), line)
            if not names or re.sub(r'"[^"]*"', '', args[2]).strip(' \t\n?:') and '?' not in args[2]:
                problems.append('%s: event is not a string literal: %s' % (where, args[2].strip()))
            for n in names:
                found.setdefault(n, where)
    missing = sorted(n for n in found if n not in documented)
    print('events=%d missing=%d' % (len(found), len(missing) + len(problems)))
    for n in missing:
        print('missing: %s (logged at %s)' % (n, found[n]))
    for p in problems:
        print(p)
    return 1 if missing or problems else 0


if __name__ == '__main__':
    sys.exit(main())
