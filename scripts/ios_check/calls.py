"""The checks on calls and member uses: `CoreType.member`, `CoreType(...)`
and `value.member` must exist on the core type, with matching argument
labels; an async core function needs `await` and a throwing one `try`;
`.member` arguments to a core enum parameter must be its cases; a free
function must be a core function, an app function or a platform name."""

from __future__ import annotations

from tree_sitter import Node

from .declarations import Member, Param, merged_members
from .resolve import Resolver, Scope
from .syntax import call_labels, first_named, ident, text


# Members every Swift value or error has without the core declaring them.
UNIVERSAL_MEMBERS = {"self", "hashValue", "hash", "localizedDescription"}
# Statements the grammar may parse as a call with a trailing closure.
KEYWORDS = {"defer", "repeat", "do", "catch", "self", "super"}


# Where an expression ends: `try`/`await` further out do not cover a call.
EXPRESSION_BOUNDARIES = {
    "statements", "lambda_literal", "function_body", "class_body", "source_file",
    "computed_property", "computed_getter", "computed_setter",
}


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


class CallChecks(Resolver):
    """The checks on calls and member uses; checker.py's Checker walks the
    files and calls them."""

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
