"""The iOS check's modules; scripts/ios_symbols.py is the command that runs
them (its docstring says what is checked and what is not).

- syntax.py: the tree-sitter Swift parser and helpers over its nodes;
- problem.py: the problem record every check reports;
- declarations.py: what a set of Swift files declares (types, members,
  functions), for both the generated core and the app;
- core_api.py: the public API of the generated WayfareCore.swift;
- app_index.py: the app's Swift files, what they declare, the platform names;
- resolve.py: scopes and the types of names and expressions in a file;
- calls.py: the checks on calls and member uses;
- checker.py: the walk over each file, the checks on type names, switches
  and conformances, and `check`, the whole check of a set of files;
- strings.py: the Localizable.strings keys check;
- self_test.py: the self-test over scripts/ios_check/fixtures.
"""
