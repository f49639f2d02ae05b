#!/usr/bin/env python3
"""Checks the iOS app's Swift against the Swift that uniffi generates.

No Swift compiler runs on the project's machines, so this is the next best
thing: tree-sitter's Swift grammar parses every app file (a parse error
fails), the public declarations of the generated `WayfareCore.swift` are
collected (types, methods, properties, enum cases, initialisers, top-level
functions), and every use of the core in the app is looked up by name:

- every type name the app writes must be a public core type, a type the app
  declares, a generic parameter, or a platform name listed in
  scripts/ios_check/platform-names.txt;
- `CoreType.member` and `CoreType(...)` must exist (static functions,
  constructors, enum cases, initialisers), with matching argument labels;
- `value.member` where the checker knows the value's type (an annotation, a
  parameter, `let x = CoreType(...)`, a core method's declared return type,
  a record's field, `for x in [CoreType]`, an `if let`/`guard let` of one
  of those) must exist on that core type, with matching argument labels;
- `.case` patterns in a `switch` (or `if case`) over a core enum, and
  `.member` arguments passed to a core parameter of a core enum type, must
  be cases of that enum;
- an app type that adopts a core protocol (KeyStore, LogSink, the
  listeners, PlatformDiscovery) must implement each of its methods under
  the same name and argument labels;
- a free function the app calls must be a core function, an app function or
  a listed platform name.

Resolution is by name, without Swift's type inference: a value whose type
the checker cannot see (a closure parameter without an annotation, a
generic, the result of a platform API) is not checked. See ios/README.md.

Usage:
  ios_symbols.py --core WayfareCore.swift [--platform FILE] APP_DIR_OR_FILE...
  ios_symbols.py --core WayfareCore.swift --dump-api
  ios_symbols.py --core WayfareCore.swift --self-test FIXTURE_DIR

The checks are in the package scripts/ios_check/ (its __init__.py lists
the modules); this file is the command line.
"""

from __future__ import annotations

import argparse
import os
import sys

from ios_check.app_index import load_platform, swift_files
from ios_check.checker import check
from ios_check.core_api import dump_api, load_core
from ios_check.self_test import self_test
from ios_check.strings import check_strings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--core", required=True, help="the generated WayfareCore.swift")
    ap.add_argument("--platform", default=os.path.join(os.path.dirname(__file__), "ios_check", "platform-names.txt"))
    ap.add_argument("--dump-api", action="store_true")
    ap.add_argument("--self-test", metavar="FIXTURE_DIR")
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args()

    core, core_errors = load_core(args.core)
    # Sanity: the generated file must have given us the core's API.
    for must in ("Wallet", "WalletError", "KeyStore"):
        if must not in core.types:
            print(f"ios_symbols: {args.core} declares no public '{must}': not the generated WayfareCore?", file=sys.stderr)
            return 2
    if args.dump_api:
        dump_api(core)
        return 0
    platform = load_platform(args.platform)
    if args.self_test:
        return self_test(core, platform, args.self_test)
    files = swift_files(args.paths)
    if not files:
        print("ios_symbols: no Swift files", file=sys.stderr)
        return 2
    problems, uses = check(core, platform, files)
    problems += check_strings(args.paths, files)
    for p in problems:
        print(p)
    ntypes = len(core.types)
    nmembers = sum(len(t.members) for t in core.types.values())
    print(f"ios_symbols: {len(files)} Swift files, {uses} uses of WayfareCore checked against "
          f"{ntypes} types / {nmembers} members ({len(core_errors)} grammar gaps in the generated file skipped); "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
