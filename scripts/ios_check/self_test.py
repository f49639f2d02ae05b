"""The iOS check's self-test: each fixture in scripts/ios_check/fixtures
must produce exactly the problem its first line names, and good.swift
none."""

from __future__ import annotations

import os
import re
import sys

from .checker import check
from .declarations import Declarations


def self_test(core: Declarations, platform: set[str], fixture_dir: str) -> int:
    """Each fixture names the problem it must produce in a first-line comment
    `// expect: <text>` (or `// expect: ok`)."""
    failures = 0
    fixtures = sorted(f for f in os.listdir(fixture_dir) if f.endswith(".swift"))
    for f in fixtures:
        path = os.path.join(fixture_dir, f)
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
        m = re.match(r"//\s*expect:\s*(.*)", first)
        if not m:
            print(f"self-test: {f} has no '// expect:' line", file=sys.stderr)
            failures += 1
            continue
        want = m.group(1).strip()
        problems, _ = check(core, platform, [path])
        messages = [str(p) for p in problems]
        if want == "ok":
            ok = not problems
        else:
            # the expected problem, and nothing else
            ok = bool(messages) and all(want in msg for msg in messages)
        status = "ok" if ok else "FAILED"
        print(f"self-test {f}: {status}" + ("" if ok else f" (expected {want!r}, got {messages})"))
        failures += not ok
    if not fixtures:
        print("self-test: no fixtures", file=sys.stderr)
        return 1
    return 1 if failures else 0
