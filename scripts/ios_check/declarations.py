"""What a set of Swift files declares: types (with their members and what
they inherit), top-level functions, typealiases and generic parameters.
Collected once from the generated WayfareCore.swift (public declarations
only; see core_api.py) and once from the app (everything; see
app_index.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from .syntax import first_named, ident, text, type_name


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
