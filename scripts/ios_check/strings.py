"""The Localizable.strings check: every key the app looks up
(`L10n.t("key", …)`, `NSLocalizedString("key", …)`) must be in each
Localizable.strings under the checked folders, and every language must
have the same keys."""

from __future__ import annotations

import os
import re

from .problem import Problem
from .syntax import call_labels, first_named, parse, text


STRINGS_LINE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"\s*=\s*"((?:[^"\\]|\\.)*)"\s*;\s*$')


def check_strings(paths: list[str], files: list[str]) -> list[Problem]:
    """Every key the app looks up (`L10n.t("key", …)`,
    `NSLocalizedString("key", …)`) is in each Localizable.strings under the
    checked folders, and the languages have the same keys."""
    tables: dict[str, dict[str, int]] = {}
    for p in paths:
        if not os.path.isdir(p):
            continue
        for root, _, names in os.walk(p):
            if root.endswith(".lproj") and "Localizable.strings" in names:
                path = os.path.join(root, "Localizable.strings")
                keys: dict[str, int] = {}
                with open(path, encoding="utf-8") as f:
                    for i, line in enumerate(f, 1):
                        m = STRINGS_LINE.match(line)
                        if m:
                            keys[m.group(1)] = i
                tables[path] = keys
    if not tables:
        return []
    problems: list[Problem] = []
    used: dict[str, tuple[str, int]] = {}
    for f in files:
        tree = parse(f)
        stack = [tree.root_node]
        while stack:
            n = stack.pop()
            stack.extend(n.named_children)
            if n.type != "call_expression":
                continue
            callee = text(first_named(n))
            if callee not in ("L10n.t", "NSLocalizedString"):
                continue
            suffix = next((c for c in n.named_children if c.type == "call_suffix"), None)
            if suffix is None:
                continue
            _, values, _ = call_labels(suffix)
            if values and values[0] is not None and values[0].type == "line_string_literal":
                key = text(values[0])[1:-1]
                used.setdefault(key, (f, n.start_point[0] + 1))
    for key, (f, line) in sorted(used.items()):
        for path, keys in sorted(tables.items()):
            if key not in keys:
                problems.append(Problem(f, line, f"string key '{key}' is not in {path}"))
    all_keys = set().union(*(set(k) for k in tables.values()))
    for path, keys in sorted(tables.items()):
        for key in sorted(all_keys - set(keys)):
            if key in used:
                continue  # already reported at its use
            problems.append(Problem(path, 1, f"string key '{key}' is missing here but present in another language"))
    return problems
