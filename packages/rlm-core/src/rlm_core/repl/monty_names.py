"""Source rewriting for the monty backend: which names code binds, and ``SHOW_VARS()``."""

from __future__ import annotations

import ast


def bound_names(tree: ast.Module) -> set[str]:
    """Names bound at the top level of ``tree`` (assignments, loops, imports, defs)."""
    names: set[str] = set()
    for node in tree.body:
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(child.name)
                break  # names inside a function body are local to it
            elif isinstance(child, ast.alias):
                names.add((child.asname or child.name).split(".", 1)[0])
    return names


class _ShowVars(ast.NodeTransformer):
    def __init__(self, names: set[str]) -> None:
        self.names = sorted(names)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "SHOW_VARS" and not node.args:
            values = ast.Dict(
                keys=[ast.Constant(name) for name in self.names],
                values=[ast.Name(name, ast.Load()) for name in self.names],
            )
            node.args = [values]
        return node


def pass_variables_to_show_vars(tree: ast.Module, names: set[str]) -> str:
    """``tree`` as source with each ``SHOW_VARS()`` given ``{name: value}`` of ``names`` and
    of the names bound by the statements before it."""
    known = set(names)
    body = []
    for statement in tree.body:
        body.append(_ShowVars(known).visit(statement))
        known |= bound_names(ast.Module(body=[statement], type_ignores=[])) - {"P", "ctx"}
    tree.body = body
    return ast.unparse(ast.fix_missing_locations(tree))
