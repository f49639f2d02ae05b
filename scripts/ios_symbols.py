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
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field

import tree_sitter_swift
from tree_sitter import Language, Node, Parser

PARSER = Parser(Language(tree_sitter_swift.language()))

# Members every Swift value or error has without the core declaring them.
UNIVERSAL_MEMBERS = {"self", "hashValue", "hash", "localizedDescription"}
# Names the language itself gives every file.
LANGUAGE_TYPES = {"Self", "Any", "AnyObject", "Type", "Protocol"}
# Statements the grammar may parse as a call with a trailing closure.
KEYWORDS = {"defer", "repeat", "do", "catch", "self", "super"}
# Generated names that are not API for the app.
INTERNAL_PREFIXES = ("FfiConverter", "Uniffi", "uniffi")


def text(node: Node | None) -> str:
    return node.text.decode("utf-8") if node is not None else ""


def ident(node: Node | None) -> str:
    """An identifier's name, without backticks."""
    return text(node).strip("`")


def parse(path: str, source: bytes | None = None):
    if source is None:
        with open(path, "rb") as f:
            source = f.read()
    return PARSER.parse(source)


def parse_errors(tree) -> list[tuple[int, int, str]]:
    """ERROR and MISSING nodes: (line, column, excerpt)."""
    out: list[tuple[int, int, str]] = []
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if not n.has_error:
            continue
        if n.type == "ERROR" or n.is_missing:
            what = "missing " + n.type if n.is_missing else text(n)[:60].replace("\n", " ")
            out.append((n.start_point[0] + 1, n.start_point[1] + 1, what))
            continue
        stack.extend(n.children)
    return sorted(out)


# ---------------------------------------------------------------- types


def type_name(node: Node | None) -> str | None:
    """A written type as the checker tracks it: `Wallet`, `[GuardianBinding]`.
    Optionals are stripped (`Wallet?` is `Wallet`); module prefixes dropped
    (`WayfareCore.Wallet` is `Wallet`); others (functions, tuples, dictionaries)
    are None."""
    if node is None:
        return None
    t = node.type
    if t == "type_annotation":
        return type_name(node.child_by_field_name("name") or last_named(node))
    if t == "user_type":
        ids = [c for c in node.named_children if c.type == "type_identifier"]
        return text(ids[-1]) if ids else None
    if t == "type_identifier":
        return text(node)
    if t in ("optional_type", "implicitly_unwrapped_type"):
        return type_name(node.child_by_field_name("wrapped") or first_named(node))
    if t == "array_type":
        inner = type_name(node.child_by_field_name("element") or first_named(node))
        return f"[{inner}]" if inner else None
    if t in ("type_modifiers", "attribute"):
        return None
    if t in ("opaque_type", "existential_type"):
        return type_name(last_named(node))
    return None


def first_named(node: Node) -> Node | None:
    return node.named_children[0] if node.named_children else None


def last_named(node: Node) -> Node | None:
    return node.named_children[-1] if node.named_children else None


def element_type(t: str | None) -> str | None:
    if t and t.startswith("[") and t.endswith("]"):
        return t[1:-1]
    return None


# ----------------------------------------------------------- declarations


@dataclass
class Param:
    label: str | None  # external label; None for `_`
    has_default: bool
    type: str | None


@dataclass
class Member:
    name: str
    kind: str  # func | init | prop | case
    static: bool
    params: list[Param] = field(default_factory=list)
    type: str | None = None  # return type, property type or the enum's type
    line: int = 0
    is_async: bool = False
    throws: bool = False


@dataclass
class TypeInfo:
    name: str
    kind: str  # class | struct | enum | protocol | actor
    members: dict[str, list[Member]] = field(default_factory=dict)
    inherits: list[str] = field(default_factory=list)
    file: str = ""
    line: int = 0

    def add(self, m: Member) -> None:
        self.members.setdefault(m.name, []).append(m)


def modifiers_of(node: Node) -> set[str]:
    mods: set[str] = set()
    for c in node.children:
        if c.type == "modifiers":
            for m in c.named_children:
                mods.update(text(m).split())
    return mods


def params_of(node: Node) -> list[Param]:
    params: list[Param] = []
    kids = node.children
    for i, c in enumerate(kids):
        if c.type != "parameter":
            continue
        names = [x for x in c.children if x.type == "simple_identifier"]
        external = c.child_by_field_name("external_name")
        if external is not None:
            label = None if text(external) == "_" else text(external)
        elif len(names) >= 2:
            label = None if text(names[0]) == "_" else text(names[0])
        else:
            label = text(names[0]) if names else None
        # `_ name: T` parses `_` as the external name in some grammar versions
        raw = text(c)
        if raw.startswith("_ ") or raw.startswith("_\t"):
            label = None
        has_default = False
        j = i + 1
        while j < len(kids) and kids[j].type not in ("parameter", ")"):
            if kids[j].type == "=":
                has_default = True
            j += 1
        ptype = None
        for x in c.named_children:
            if x.type not in ("simple_identifier", "parameter_modifiers", "attribute"):
                ptype = type_name(x)
                if ptype:
                    break
        params.append(Param(label, has_default, ptype))
    return params


def effects_of(node: Node) -> tuple[bool, bool]:
    """(async, throws) of a function or initialiser declaration."""
    is_async = throws = False
    for c in node.children:
        if c.type == "function_body":
            break
        if c.type == "async":
            is_async = True
        elif c.type in ("throws", "rethrows") or (c.type == "throws_clause"):
            throws = True
    return is_async, throws


def return_type_of(node: Node) -> str | None:
    seen_arrow = False
    for c in node.children:
        if c.type == "->":
            seen_arrow = True
        elif seen_arrow and c.is_named:
            return type_name(c)
    return None


def decl_name(node: Node) -> str | None:
    n = node.child_by_field_name("name")
    if n is None:
        return None
    if n.type == "user_type":
        return type_name(n)
    return ident(n)


def property_names(node: Node) -> list[tuple[str, Node]]:
    out = []
    for i, c in enumerate(node.children):
        if node.field_name_for_child(i) == "name" and c.type == "pattern":
            b = c.child_by_field_name("bound_identifier")
            if b is not None:
                out.append((text(b), c))
    return out


def property_type(node: Node) -> str | None:
    for c in node.children:
        if c.type == "type_annotation":
            return type_name(c)
    return None


class Declarations:
    """Types and functions declared by a set of Swift files."""

    def __init__(self, public_only: bool) -> None:
        self.public_only = public_only
        self.types: dict[str, TypeInfo] = {}
        self.functions: dict[str, list[Member]] = {}
        self.typealiases: set[str] = set()
        self.generic_params: set[str] = set()

    def visible(self, node: Node, in_protocol: bool, in_public_enum: bool) -> bool:
        if not self.public_only or in_protocol or in_public_enum:
            return True
        mods = modifiers_of(node)
        return "public" in mods or "open" in mods

    def collect(self, tree, file: str) -> None:
        self._collect_body(tree.root_node, None, file, False)

    def _type(self, name: str, kind: str, file: str, line: int) -> TypeInfo:
        info = self.types.get(name)
        if info is None:
            info = TypeInfo(name, kind, file=file, line=line)
            self.types[name] = info
        elif kind != "extension" and info.kind == "extension":
            info.kind = kind
        return info

    def _collect_body(self, node: Node, owner: TypeInfo | None, file: str, in_protocol: bool) -> None:
        public_enum = owner is not None and owner.kind == "enum"
        for c in node.named_children:
            t = c.type
            line = c.start_point[0] + 1
            if t in ("class_declaration", "protocol_declaration"):
                kind_node = c.child_by_field_name("declaration_kind")
                kind = text(kind_node) if kind_node is not None else "protocol"
                name = decl_name(c)
                if not name:
                    continue
                for g in c.children:
                    if g.type == "type_parameters":
                        for p in g.named_children:
                            ident = next((x for x in p.named_children if x.type == "type_identifier"), None)
                            if ident is not None:
                                self.generic_params.add(text(ident))
                if kind != "extension" and not self.visible(c, False, False):
                    continue
                if kind == "extension" and self.public_only and name not in self.types:
                    # An extension of a type the module does not declare
                    # (FfiConverterPrimitive…): not API.
                    continue
                info = self._type(name, kind, file, line)
                for inh in c.children:
                    if inh.type == "inheritance_specifier":
                        n = type_name(inh.child_by_field_name("inherits_from") or first_named(inh))
                        if n:
                            info.inherits.append(n)
                body = c.child_by_field_name("body")
                if body is not None:
                    self._collect_body(body, info, file, t == "protocol_declaration")
            elif t == "typealias_declaration":
                if self.visible(c, in_protocol, False):
                    n = c.child_by_field_name("name")
                    if n is not None:
                        self.typealiases.add(text(n))
            elif t in ("function_declaration", "protocol_function_declaration"):
                name = decl_name(c)
                if not name or not self.visible(c, in_protocol, False):
                    continue
                mods = modifiers_of(c)
                m = Member(name, "func", "static" in mods or "class" in mods,
                           params_of(c), return_type_of(c), line, *effects_of(c))
                if owner is None:
                    self.functions.setdefault(name, []).append(m)
                else:
                    owner.add(m)
            elif t == "init_declaration":
                if owner is None or not self.visible(c, in_protocol, False):
                    continue
                owner.add(Member("init", "init", True, params_of(c), owner.name, line, *effects_of(c)))
            elif t in ("property_declaration", "protocol_property_declaration"):
                if owner is None:
                    continue
                if not self.visible(c, in_protocol, False):
                    continue
                mods = modifiers_of(c)
                ptype = property_type(c)
                names = property_names(c)
                if t == "protocol_property_declaration":
                    pat = c.child_by_field_name("name")
                    b = pat.child_by_field_name("bound_identifier") if pat is not None else None
                    names = [(text(b), pat)] if b is not None else []
                for n, _ in names:
                    owner.add(Member(n, "prop", "static" in mods or "class" in mods, [], ptype, line))
            elif t == "enum_entry":
                if owner is None:
                    continue
                kids = c.children
                for i, k in enumerate(kids):
                    if c.field_name_for_child(i) == "name":
                        owner.add(Member(text(k), "case", True, [], owner.name, k.start_point[0] + 1))


def merged_members(decls: Declarations, name: str, seen: set[str] | None = None) -> dict[str, list[Member]]:
    """Members of a type with those of the core types and protocols it
    inherits from (the class `Wallet` gets `WalletProtocol`'s)."""
    seen = seen or set()
    info = decls.types.get(name)
    if info is None or name in seen:
        return {}
    seen.add(name)
    out: dict[str, list[Member]] = {}
    for inh in info.inherits:
        for k, v in merged_members(decls, inh, seen).items():
            out.setdefault(k, []).extend(v)
    for k, v in info.members.items():
        out.setdefault(k, []).extend(v)
    return out


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


# ------------------------------------------------------------- the check


@dataclass
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def call_labels(call_suffix: Node) -> tuple[list[str | None], list[Node], bool]:
    """Labels of a call's arguments, their value nodes, and whether a
    trailing closure follows."""
    labels: list[str | None] = []
    values: list[Node] = []
    trailing = False
    for c in call_suffix.named_children:
        if c.type == "value_arguments":
            for a in c.named_children:
                if a.type != "value_argument":
                    continue
                lab = a.child_by_field_name("name")
                labels.append(text(lab) if lab is not None else None)
                values.append(a.child_by_field_name("value") or last_named(a))
        elif c.type in ("lambda_literal", "annotated_lambda"):
            trailing = True
    return labels, values, trailing


def labels_match(params: list[Param], labels: list[str | None], trailing: bool) -> list[Param] | None:
    """The parameters the given labels bind to, in order, or None."""
    bound: list[Param] = []
    i = 0
    for lab in labels:
        while i < len(params) and params[i].label != lab and params[i].has_default:
            i += 1
        if i >= len(params) or params[i].label != lab:
            return None
        bound.append(params[i])
        i += 1
    rest = params[i:]
    if trailing and rest:
        rest = rest[1:]
    if any(not p.has_default for p in rest):
        return None
    return bound


def signature(m: Member) -> str:
    inner = "".join(f"{p.label or '_'}:" for p in m.params)
    return f"{m.name}({inner})"


class Scope:
    def __init__(self, parent: "Scope | None" = None) -> None:
        self.parent = parent
        self.vars: dict[str, str | None] = {}

    def lookup(self, name: str) -> str | None:
        s: Scope | None = self
        while s is not None:
            if name in s.vars:
                return s.vars[name]
            s = s.parent
        return None


# Where an expression ends: `try`/`await` further out do not cover a call.
EXPRESSION_BOUNDARIES = {
    "statements", "lambda_literal", "function_body", "class_body", "source_file",
    "computed_property", "computed_getter", "computed_setter",
}

SCOPE_NODES = {
    "function_declaration", "init_declaration", "lambda_literal", "statements",
    "computed_property", "computed_getter", "computed_setter", "for_statement",
    "if_statement", "guard_statement", "while_statement", "switch_entry",
    "catch_block", "do_statement", "class_body",
}


class Checker:
    def __init__(self, core: Declarations, app: Declarations, platform: set[str]) -> None:
        self.core = core
        self.app = app
        self.platform = platform
        self.problems: list[Problem] = []
        self.file = ""
        self.uses = 0  # core symbol uses checked (for the summary)
        self.self_type: list[str | None] = []

    # --- helpers
    def report(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.file, node.start_point[0] + 1, message))

    def is_core(self, name: str | None) -> bool:
        return bool(name) and name in self.core.types and name not in self.app.types

    def known_type(self, name: str) -> bool:
        return (
            name in self.core.types
            or name in self.core.typealiases
            or name in self.app.types
            or name in self.app.typealiases
            or name in self.app.generic_params
            or name in self.platform
        )

    def members(self, tname: str) -> dict[str, list[Member]]:
        if tname in self.app.types:
            return merged_members(self.app, tname)
        return merged_members(self.core, tname)

    def member_type(self, tname: str | None, name: str, static: bool) -> str | None:
        if not tname:
            return None
        elem = element_type(tname)
        if elem is not None:
            # the few array members that keep the element type in view
            if name in ("first", "last", "randomElement"):
                return elem
            if name in ("filter", "sorted", "reversed", "prefix", "suffix", "dropFirst", "dropLast"):
                return tname
            return None
        cands = self.members(tname).get(name, [])
        for m in cands:
            if m.kind in ("prop", "case") or (m.kind == "func" and not static):
                return m.type
        return cands[0].type if cands else None

    # --- the walk
    def check_file(self, path: str, tree) -> None:
        self.file = path
        self.self_type = [None]
        self.walk(tree.root_node, Scope())

    def walk(self, node: Node, scope: Scope) -> None:
        t = node.type
        if t in SCOPE_NODES:
            scope = Scope(scope)
        for c in node.children:
            if c.type == "function_declaration" and t != "class_body":
                # local functions are visible in their whole block
                fname = decl_name(c)
                if fname:
                    scope.vars.setdefault(fname, return_type_of(c))
        if t in ("class_declaration", "protocol_declaration"):
            self.self_type.append(decl_name(node))
            scope = Scope(scope)
            self.declare_members(node, scope)
            self.check_conformance(node)
            for c in node.children:
                self.walk(c, scope)
            self.self_type.pop()
            return
        if t in ("function_declaration", "init_declaration", "protocol_function_declaration"):
            for g in node.children:
                if g.type == "type_parameters":
                    for p in g.named_children:
                        gid = next((x for x in p.named_children if x.type == "type_identifier"), None)
                        if gid is not None:
                            self.app.generic_params.add(text(gid))
            scope = Scope(scope)
            for p in node.children:
                if p.type == "parameter":
                    names = [x for x in p.children if x.type == "simple_identifier"]
                    if names:
                        scope.vars[text(names[-1])] = params_of_single(p)
        if t == "lambda_literal":
            self.declare_lambda_params(node, scope)
        if t == "property_declaration":
            self.declare_property(node, scope)
        if t in ("if_statement", "guard_statement", "while_statement"):
            self.declare_bindings(node, scope)
        if t == "for_statement":
            self.declare_for(node, scope)
        if t == "catch_block":
            scope.vars["error"] = None
            self.declare_catch(node, scope)
        if t == "type_identifier":
            self.check_type_name(node)
        if t in ("call_expression", "navigation_expression", "simple_identifier", "prefix_expression"):
            self.check_expression(node, scope)
        if t == "switch_statement":
            self.check_switch(node, scope)
        for c in node.children:
            self.walk(c, scope)

    # --- declarations in scope
    def declare_members(self, node: Node, scope: Scope) -> None:
        name = decl_name(node)
        if not name:
            return
        for m in merged_members(self.app, name).values():
            for mm in m:
                if mm.kind == "prop":
                    scope.vars[mm.name] = mm.type

    def declare_property(self, node: Node, scope: Scope) -> None:
        declared = property_type(node)
        value = node.child_by_field_name("value")
        for n, _ in property_names(node):
            scope.vars[n] = declared or (self.expr_type(value, scope) if value is not None else None)

    def declare_lambda_params(self, node: Node, scope: Scope) -> None:
        for c in node.named_children:
            if c.type == "lambda_function_type":
                for p in c.named_children:
                    if p.type == "lambda_function_type_parameters":
                        for lp in p.named_children:
                            n = next((x for x in lp.named_children if x.type == "simple_identifier"), None)
                            if n is not None:
                                ann = next((x for x in lp.named_children if x.type not in ("simple_identifier",)), None)
                                scope.vars[text(n)] = type_name(ann) if ann is not None else None

    def declare_bindings(self, node: Node, scope: Scope) -> None:
        # `if let x = expr`, `guard let x = expr`, `if let x` (shorthand)
        kids = node.children
        for i, c in enumerate(kids):
            if c.type == "value_binding_pattern":
                j = i + 1
                while j < len(kids) and kids[j].type not in ("simple_identifier", "pattern"):
                    j += 1
                if j >= len(kids):
                    continue
                name_node = kids[j]
                if name_node.type == "pattern":
                    b = name_node.child_by_field_name("bound_identifier") or first_named(name_node)
                    name_node = b if b is not None else name_node
                name = text(name_node)
                value = None
                k = j + 1
                while k < len(kids) and kids[k].type not in (",", "{", "else", "value_binding_pattern"):
                    if kids[k].type not in ("=", "type_annotation") and kids[k].is_named:
                        value = kids[k]
                        break
                    k += 1
                ann = next((x for x in kids[j + 1:k + 1] if x.type == "type_annotation"), None)
                if ann is not None:
                    scope.vars[name] = type_name(ann)
                elif value is not None:
                    scope.vars[name] = self.expr_type(value, scope)
                else:
                    scope.vars[name] = scope.lookup(name)

    def declare_catch(self, node: Node, scope: Scope) -> None:
        """`catch let e as WalletError` or `catch WalletError.X`."""
        src = text(node).split("{", 1)[0]
        m = re.match(r"catch\s+let\s+(\w+)\s+as\s+(\w+)", src)
        if m:
            scope.vars[m.group(1)] = m.group(2)

    def declare_for(self, node: Node, scope: Scope) -> None:
        item = node.child_by_field_name("item")
        coll = node.child_by_field_name("collection")
        if item is None or coll is None:
            return
        b = item.child_by_field_name("bound_identifier") or item
        if b.type == "simple_identifier":
            scope.vars[text(b)] = element_type(self.expr_type(coll, scope))

    # --- types the app writes
    def check_type_name(self, node: Node) -> None:
        name = text(node)
        parent = node.parent
        if name in LANGUAGE_TYPES:
            return
        if name[:1].islower() and in_attribute(node):
            return  # @main, @unchecked, @unknown, @escaping: language attributes
        # `WayfareCore.Wallet`: the last identifier is the type
        if parent is not None and parent.type == "user_type":
            ids = [c for c in parent.named_children if c.type == "type_identifier"]
            if len(ids) > 1 and node != ids[-1]:
                if name in ("WayfareCore",) or name in self.platform:
                    return
            if len(ids) > 1 and node == ids[-1] and text(ids[0]) == "WayfareCore":
                if name not in self.core.types and name not in self.core.typealiases:
                    self.report(node, f"WayfareCore has no type '{name}'")
                else:
                    self.uses += 1
                return
            if len(ids) > 1 and node == ids[-1] and self.is_core(text(ids[-2])):
                if name not in self.members(text(ids[-2])):
                    self.report(node, f"{text(ids[-2])} has no nested type '{name}'")
                return
            if len(ids) > 1 and node == ids[-1]:
                return
        if name in self.core.types:
            self.uses += 1
        if not self.known_type(name):
            self.report(node, self.unknown_type_message(name))

    def unknown_type_message(self, name: str) -> str:
        near = [n for n in self.core.types if n.lower() == name.lower() or _close(n, name)]
        hint = f" (WayfareCore has {', '.join(sorted(near)[:3])})" if near else ""
        return (f"unknown type '{name}': not in WayfareCore, not declared by the app, "
                f"not in scripts/ios_check/platform-names.txt{hint}")

    # --- expressions
    def expr_type(self, node: Node | None, scope: Scope) -> str | None:
        """The core or app type of an expression, when visible by name."""
        if node is None:
            return None
        t = node.type
        if t in ("try_expression", "await_expression"):
            return self.expr_type(node.child_by_field_name("expr") or last_named(node), scope)
        if t in ("parenthesized_expression", "postfix_expression", "force_unwrap_expression", "optional_chaining_expression"):
            return self.expr_type(first_named(node), scope)
        if t == "simple_identifier":
            name = text(node)
            if name in self.core.types or name in self.app.types:
                return "type:" + name
            return scope.lookup(name)
        if t == "self_expression":
            st = self.self_type[-1] if self.self_type else None
            return st
        if t == "navigation_expression":
            target = node.child_by_field_name("target")
            suffix = node.child_by_field_name("suffix")
            member = suffix.child_by_field_name("suffix") if suffix is not None else None
            if member is None or member.type != "simple_identifier":
                return None
            tt = self.expr_type(target, scope)
            if tt is None:
                return None
            if tt.startswith("type:"):
                base = tt[5:]
                cands = self.members(base).get(ident(member), [])
                for m in cands:
                    if m.kind == "case":
                        return base
                    if m.static:
                        return m.type
                return None
            return self.member_type(tt, ident(member), False)
        if t == "call_expression":
            callee = first_named(node)
            if callee is None:
                return None
            if callee.type == "simple_identifier":
                name = text(callee)
                if name in self.core.types or name in self.app.types:
                    return name
                for m in self.core.functions.get(name, []) + self.app.functions.get(name, []):
                    return m.type
                return None
            ct = self.expr_type(callee, scope)
            if ct and ct.startswith("type:"):
                return ct[5:]
            return ct
        return None

    def check_expression(self, node: Node, scope: Scope) -> None:
        t = node.type
        if t == "call_expression":
            self.check_call(node, scope)
        elif t == "navigation_expression":
            parent = node.parent
            if parent is not None and parent.type == "call_expression" and first_named(parent) == node:
                return  # checked with its call
            self.check_navigation(node, scope, None)
        elif t == "simple_identifier":
            self.check_bare_identifier(node, scope)

    def check_bare_identifier(self, node: Node, scope: Scope) -> None:
        """An uppercase identifier used as a value (`Wallet.open`, `Text(…)`)
        names a type."""
        parent = node.parent
        if parent is None:
            return
        role_ok = (
            (parent.type == "call_expression" and first_named(parent) == node)
            or (parent.type == "navigation_expression" and parent.child_by_field_name("target") == node)
        )
        if not role_ok:
            return
        name = text(node)
        if not name[:1].isupper():
            if parent.type == "call_expression":
                self.check_free_function(node, scope)
            return
        if scope.lookup(name) is not None or name in LANGUAGE_TYPES:
            return
        if name in self.core.types:
            self.uses += 1
        if not self.known_type(name) and name != "WayfareCore":
            self.report(node, self.unknown_type_message(name))

    def check_free_function(self, node: Node, scope: Scope) -> None:
        name = text(node)
        if name in scope_names(scope) or name in KEYWORDS:
            return
        # a method of the enclosing type called without `self.`
        st = self.self_type[-1] if self.self_type else None
        if st and name in merged_members(self.app, st):
            return
        if name in self.core.functions:
            self.uses += 1
            call = node.parent
            suffix = next((c for c in call.named_children if c.type == "call_suffix"), None)
            if suffix is not None:
                labels, _, trailing = call_labels(suffix)
                matched = [m for m in self.core.functions[name] if labels_match(m.params, labels, trailing) is not None]
                if not matched:
                    self.report(node, f"no WayfareCore function {name}({''.join((l or '_') + ':' for l in labels)}); "
                                      f"have {', '.join(signature(m) for m in self.core.functions[name])}")
                else:
                    self.check_effects(node, "WayfareCore", matched[0])
            return
        if name in self.app.functions or name in self.platform:
            return
        if any(name in ti.members for ti in self.app.types.values()):
            return  # a method of some app type (e.g. a protocol extension)
        self.report(node, f"unknown function '{name}': not in WayfareCore, not declared by the app, "
                          f"not in scripts/ios_check/platform-names.txt")

    def resolve_member(self, node: Node, target: Node, member: Node, scope: Scope):
        """(type name, is static use, members) for `target.member` when the
        target's type is a core type; None otherwise."""
        tt = self.expr_type(target, scope)
        if tt is None:
            return None
        static = tt.startswith("type:")
        base = tt[5:] if static else tt
        if base.startswith("["):
            return None
        if not self.is_core(base):
            return None
        return base, static, self.members(base).get(ident(member), [])

    def check_navigation(self, node: Node, scope: Scope, call_suffix: Node | None) -> None:
        target = node.child_by_field_name("target")
        suffix = node.child_by_field_name("suffix")
        member = suffix.child_by_field_name("suffix") if suffix is not None else None
        if target is None or member is None or member.type != "simple_identifier":
            return
        r = self.resolve_member(node, target, member, scope)
        if r is None:
            return
        base, static, cands = r
        name = ident(member)
        self.uses += 1
        if name in UNIVERSAL_MEMBERS:
            return
        if static:
            cands = [m for m in cands if m.static or m.kind == "case"]
        else:
            cands = [m for m in cands if not m.static]
        if not cands:
            kind = "static member or case" if static else "member"
            all_names = sorted(self.members(base))
            near = [n for n in all_names if _close(n, name)]
            hint = f" (did you mean {', '.join(near[:3])}?)" if near else ""
            self.report(member, f"{base} has no {kind} '{name}'{hint}")
            return
        if call_suffix is not None:
            funcs = [m for m in cands if m.kind in ("func", "case", "init")]
            if not funcs:
                return  # a property holding a closure; not in generated code
            self.check_labels(member, base, funcs, call_suffix)

    def check_labels(self, at: Node, base: str, funcs: list[Member], call_suffix: Node) -> None:
        labels, values, trailing = call_labels(call_suffix)
        if any(m.kind == "case" for m in funcs):
            return  # enum case payloads: labels are optional in patterns
        for m in funcs:
            bound = labels_match(m.params, labels, trailing)
            if bound is not None:
                self.check_implicit_members(bound, values)
                self.check_effects(at, base, m)
                return
        got = f"{ident(at)}({''.join((l or '_') + ':' for l in labels)})"
        have = ", ".join(dict.fromkeys(signature(m) for m in funcs))
        self.report(at, f"{base}: no {got}; WayfareCore has {have}")

    def check_effects(self, at: Node, base: str, m: Member) -> None:
        """An async core function needs `await`, a throwing one `try`
        (`try?`, `try!`), somewhere in the expression that calls it."""
        awaited = tried = False
        n = at.parent
        while n is not None and n.type not in EXPRESSION_BOUNDARIES:
            # tree-sitter binds `try await a.b().c()` as `(try await a.b()).c()`:
            # look down the left spine of each enclosing chain too.
            spine: Node | None = n
            while spine is not None:
                if spine.type == "await_expression":
                    awaited = True
                elif spine.type == "try_expression":
                    tried = True
                elif spine.type not in ("navigation_expression", "call_expression"):
                    break
                spine = (spine.child_by_field_name("target") or spine.child_by_field_name("expr")
                         or first_named(spine))
            n = n.parent
        what = f"{base}.{m.name}" if m.kind != "init" else f"{base}(...)"
        if base == "WayfareCore":
            what = m.name
        if m.is_async and not awaited:
            self.report(at, f"{what} is async in WayfareCore: call it with await")
        if m.throws and not tried:
            self.report(at, f"{what} throws in WayfareCore: call it with try")

    def check_implicit_members(self, bound: list[Param], values: list[Node]) -> None:
        for p, v in zip(bound, values):
            if v is None or not self.is_core(p.type):
                continue
            name = implicit_member(v)
            if name is None or name in ("init",):
                continue
            ms = self.members(p.type).get(name, [])
            if not any(m.static or m.kind == "case" for m in ms):
                self.report(v, f"{p.type} has no case or static member '{name}'")

    def check_call(self, node: Node, scope: Scope) -> None:
        callee = first_named(node)
        suffix = next((c for c in node.named_children if c.type == "call_suffix"), None)
        if callee is None or suffix is None:
            return
        if callee.type == "navigation_expression":
            self.check_navigation(callee, scope, suffix)
            return
        if callee.type == "simple_identifier":
            name = text(callee)
            if self.is_core(name) and scope.lookup(name) is None:
                inits = self.members(name).get("init", [])
                info = self.core.types[name]
                if info.kind == "protocol":
                    self.report(callee, f"{name} is a protocol in WayfareCore; it has no initialiser")
                elif inits:
                    self.check_labels(callee, name, inits, suffix)

    def check_switch(self, node: Node, scope: Scope) -> None:
        subject = node.child_by_field_name("expr")
        st = self.expr_type(subject, scope)
        if not self.is_core(st) or self.core.types[st].kind != "enum":
            return
        cases = {n for n, ms in self.members(st).items() if any(m.kind == "case" for m in ms)}
        for entry in node.named_children:
            if entry.type != "switch_entry":
                continue
            for pat in entry.named_children:
                if pat.type != "switch_pattern":
                    continue
                name = pattern_case(pat)
                self.uses += 1
                if name is not None and name not in cases:
                    self.report(pat, f"{st} has no case '{name}' (cases: {', '.join(sorted(cases))})")

    def check_conformance(self, node: Node) -> None:
        name = decl_name(node)
        if not name or name not in self.app.types:
            return
        for inh in node.children:
            if inh.type != "inheritance_specifier":
                continue
            proto = type_name(inh.child_by_field_name("inherits_from") or first_named(inh))
            if not self.is_core(proto) or self.core.types[proto].kind != "protocol":
                continue
            if proto.endswith("Protocol") and proto[:-8] in self.core.types:
                self.report(inh, f"{proto} is the interface of the core's object {proto[:-8]}; "
                                 "the app implements only the core's foreign traits")
                continue
            self.uses += 1
            have = merged_members(self.app, name)
            for req_name, reqs in self.core.types[proto].members.items():
                for req in reqs:
                    impls = [m for m in have.get(req_name, []) if m.kind == req.kind]
                    if req.kind == "func":
                        want = [p.label for p in req.params]
                        if not any([p.label for p in m.params] == want for m in impls):
                            self.report(inh, f"{name} adopts {proto} but does not implement {signature(req)}")
                    elif not impls:
                        self.report(inh, f"{name} adopts {proto} but does not declare '{req_name}'")


def in_attribute(node: Node) -> bool:
    n = node.parent
    while n is not None:
        if n.type == "attribute":
            return True
        if n.type in ("class_declaration", "function_declaration", "statements"):
            return False
        n = n.parent
    return False


def params_of_single(p: Node) -> str | None:
    for x in p.named_children:
        if x.type not in ("simple_identifier", "parameter_modifiers", "attribute"):
            tn = type_name(x)
            if tn:
                return tn
    return None


def scope_names(scope: Scope) -> set[str]:
    out: set[str] = set()
    s: Scope | None = scope
    while s is not None:
        out.update(s.vars)
        s = s.parent
    return out


def implicit_member(v: Node) -> str | None:
    """`.pos` or `.tram(…)` as written: the member's name."""
    n = v
    if n.type == "call_expression":
        n = first_named(n)
    if n is not None and n.type == "prefix_expression":
        kids = n.children
        if len(kids) == 2 and kids[0].type == "." and kids[1].type == "simple_identifier":
            return text(kids[1])
    return None


def pattern_case(pat: Node) -> str | None:
    """The case a switch pattern names: `.pos`, `let .tram(x)`, `.tram(let x)`."""
    stack = [pat]
    while stack:
        n = stack.pop(0)
        kids = n.children
        for i, k in enumerate(kids):
            if k.type == "." and i + 1 < len(kids) and kids[i + 1].type == "simple_identifier":
                # `.name` directly, not `x.name`
                if i == 0 or kids[i - 1].type in ("value_binding_pattern", "case"):
                    return text(kids[i + 1])
        if n.type == "prefix_expression":
            name = implicit_member(n)
            if name:
                return name
        stack.extend(n.named_children)
    return None


def _close(a: str, b: str) -> bool:
    """Names one edit apart, or equal ignoring case."""
    if a.lower() == b.lower():
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


# ------------------------------------------------------------- commands


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


def check(core: Declarations, platform: set[str], files: list[str]) -> tuple[list[Problem], int]:
    problems: list[Problem] = []
    app = Declarations(public_only=False)
    trees = []
    for f in files:
        tree = parse(f)
        for line, col, what in parse_errors(tree):
            problems.append(Problem(f, line, f"Swift parse error at column {col}: {what!r}"))
        app.collect(tree, f)
        trees.append((f, tree))
    checker = Checker(core, app, platform)
    for f, tree in trees:
        checker.check_file(f, tree)
    clashes = sorted(set(app.types) & set(core.types))
    for name in clashes:
        info = app.types[name]
        if info.kind != "extension":
            problems.append(Problem(info.file, info.line, f"the app declares '{name}', which shadows the WayfareCore type"))
    return problems + checker.problems, checker.uses


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
