"""The tree-sitter Swift parser and the helpers every part of the iOS check
uses on its nodes: names, written types as the checker tracks them
(`Wallet`, `[GuardianBinding]`), parse errors, and a call's argument
labels."""

from __future__ import annotations

import tree_sitter_swift
from tree_sitter import Language, Node, Parser


PARSER = Parser(Language(tree_sitter_swift.language()))


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
