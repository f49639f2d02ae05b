"""The check of the app's Swift against the generated WayfareCore: the walk
over each file (scopes, declarations, then the checks), the checks on
type names the app writes, on `switch`/`if case` patterns over core enums
and on app types adopting core protocols; `check` runs it over a set of
files."""

from __future__ import annotations

from tree_sitter import Node

from .app_index import index_app, shadowing
from .calls import CallChecks, _close, implicit_member, signature
from .declarations import Declarations, decl_name, merged_members, return_type_of
from .problem import Problem
from .resolve import Scope
from .syntax import first_named, text, type_name


# Names the language itself gives every file.
LANGUAGE_TYPES = {"Self", "Any", "AnyObject", "Type", "Protocol"}


SCOPE_NODES = {
    "function_declaration", "init_declaration", "lambda_literal", "statements",
    "computed_property", "computed_getter", "computed_setter", "for_statement",
    "if_statement", "guard_statement", "while_statement", "switch_entry",
    "catch_block", "do_statement", "class_body",
}


class Checker(CallChecks):
    """Walks each file of the app, keeping scopes (resolve.py), and checks
    every type name, expression, switch and conformance in it."""

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


def check(core: Declarations, platform: set[str], files: list[str]) -> tuple[list[Problem], int]:
    app, trees, problems = index_app(files)
    checker = Checker(core, app, platform)
    for f, tree in trees:
        checker.check_file(f, tree)
    problems += shadowing(core, app)
    return problems + checker.problems, checker.uses
