"""The app side of the iOS check: which Swift files are checked, what they
declare (with their parse errors), the types the app declares that shadow
core types, and the platform names the app may use without declaring them
(scripts/ios_check/platform-names.txt)."""

from __future__ import annotations

import os

from .declarations import Declarations
from .problem import Problem
from .syntax import parse, parse_errors


def swift_files(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d not in (".build", "build", "DerivedData"))
                out.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".swift"))
        else:
            out.append(p)
    return out


def load_platform(path: str) -> set[str]:
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            names.update(line.split())
    return names


def index_app(files: list[str]) -> tuple[Declarations, list, list[Problem]]:
    """Parses each file: what the app declares, the parsed trees in file
    order, and a problem for each parse error."""
    problems: list[Problem] = []
    app = Declarations(public_only=False)
    trees = []
    for f in files:
        tree = parse(f)
        for line, col, what in parse_errors(tree):
            problems.append(Problem(f, line, f"Swift parse error at column {col}: {what!r}"))
        app.collect(tree, f)
        trees.append((f, tree))
    return app, trees, problems


def shadowing(core: Declarations, app: Declarations) -> list[Problem]:
    """A problem for each type the app declares under a core type's name
    (extensions of core types are fine)."""
    problems: list[Problem] = []
    clashes = sorted(set(app.types) & set(core.types))
    for name in clashes:
        info = app.types[name]
        if info.kind != "extension":
            problems.append(Problem(info.file, info.line, f"the app declares '{name}', which shadows the WayfareCore type"))
    return problems
