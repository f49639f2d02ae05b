"""What the checker knows while it walks a file: the names in scope and
their types, the types of expressions where they are visible by name
(annotations, parameters, `let x = CoreType(...)`, a core method's return
type, a record's field, `for x in [CoreType]`, `if let`/`guard let`), the
members of core and app types, and the problems found so far. Resolution
is by name, without Swift's type inference: what cannot be seen is None."""

from __future__ import annotations

import re

from tree_sitter import Node

from .declarations import Declarations, Member, decl_name, merged_members, property_names, property_type
from .problem import Problem
from .syntax import element_type, first_named, ident, last_named, text, type_name


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


class Resolver:
    """The checker's state and its name resolution; checks are in calls.py
    and checker.py."""

    def __init__(self, core: Declarations, app: Declarations, platform: set[str]) -> None:
        self.core = core
        self.app = app
        self.platform = platform
        self.problems: list[Problem] = []
        self.file = ""
        self.uses = 0  # core symbol uses checked (for the summary)
        self.self_type: list[str | None] = []

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
