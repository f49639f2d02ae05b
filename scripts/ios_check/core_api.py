"""The public API of the generated WayfareCore.swift: loading it (without
uniffi's internal FfiConverter/Uniffi names) and printing it for
`--dump-api`."""

from __future__ import annotations

from .declarations import Declarations, merged_members
from .syntax import parse, parse_errors


# Generated names that are not API for the app.
INTERNAL_PREFIXES = ("FfiConverter", "Uniffi", "uniffi")


def load_core(path: str) -> tuple[Declarations, list]:
    with open(path, "rb") as f:
        source = f.read()
    tree = parse(path, source)
    decls = Declarations(public_only=True)
    decls.collect(tree, path)
    for name in list(decls.types):
        if name.startswith(INTERNAL_PREFIXES):
            del decls.types[name]
    for name in list(decls.functions):
        if name.startswith(INTERNAL_PREFIXES):
            del decls.functions[name]
    return decls, parse_errors(tree)


def dump_api(core: Declarations) -> None:
    for name in sorted(core.types):
        info = core.types[name]
        inh = f": {', '.join(info.inherits)}" if info.inherits else ""
        print(f"{info.kind} {name}{inh}")
        for mname, ms in sorted(merged_members(core, name).items()):
            shown = set()
            for m in ms:
                key = (m.kind, m.static, tuple(p.label for p in m.params))
                if key in shown:
                    continue
                shown.add(key)
                st = "static " if m.static and m.kind == "func" else ""
                if m.kind == "func" or m.kind == "init":
                    ps = ", ".join(f"{p.label or '_'}: {p.type}{' = …' if p.has_default else ''}" for p in m.params)
                    print(f"    {st}{m.name}({ps}) -> {m.type}")
                elif m.kind == "prop":
                    print(f"    var {m.name}: {m.type}")
                else:
                    print(f"    case {m.name}")
    for name, ms in sorted(core.functions.items()):
        for m in ms:
            ps = ", ".join(f"{p.label or '_'}: {p.type}" for p in m.params)
            print(f"func {name}({ps}) -> {m.type}")
