"""The house's layers: compatibility layer <- operator library (mixup) <- networks
(mixup_symbols) <- application (mixup_app, with data/ and experiments/) <- benchmarks (bench).

Read from the source (every import statement, the ones inside functions too) and observed in a
fresh interpreter: an arrow that runs the wrong way, or a circle between two modules, fails."""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ["mixup_compat", "mixup", "mixup_symbols", "mixup_app", "bench"]
OP_LIBRARY = {"mixup", "mixup.params", "mixup.draws", "mixup.mixing", "mixup.op"}


def _modules():
    """{dotted name: path} of every module of the layers."""
    found = {"mixup_compat": os.path.join(ROOT, "mixup_compat.py")}
    for package in LAYERS[1:]:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3]
                    dotted = rel.replace(os.sep, ".")
                    found[dotted[:-len(".__init__")] if dotted.endswith(".__init__")
                          else dotted] = os.path.join(folder, name)
    return found


def _imports(name, path, known):
    """The project modules ``name`` imports, wherever the statement is."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            # `from pkg import module` imports pkg.module; `from pkg import name` imports pkg
            targets = [base + "." + a.name if base + "." + a.name in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _layer(module):
    return LAYERS.index(module.split(".")[0])


@pytest.fixture(scope="module")
def graph():
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def test_every_import_points_down_the_layers(graph):
    upward = sorted("%s imports %s" % (name, target) for name, targets in graph.items()
                    for target in targets if _layer(target) > _layer(name))
    assert upward == []


def test_no_two_modules_import_each_other_even_through_others(graph):
    # strongly connected components (Tarjan): any component of more than one module is a circle
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []


def test_the_graph_sees_imports_inside_functions(graph):
    # the reader itself: fit imports the networks inside a function, not at the top
    assert "mixup_symbols" in graph["mixup_app.fit"]
    assert "mixup_app.data.catalogue" in graph["mixup_app.fit"]


@pytest.mark.slow
def test_import_mixup_loads_the_operator_library_alone():
    code = ("import sys, mixup, mxnet as mx; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('mixup', 'mixup_app', 'mixup_symbols', 'bench')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120).stdout
    loaded = set(eval(out))
    assert loaded <= OP_LIBRARY | {"mixup.gluon"}, loaded - OP_LIBRARY
    assert "mixup" in loaded and "mixup.op" in loaded
    # and the operator is registered by that import alone; the script ends without reading
    # the result, which hangs MXNet's exit unless mixup waits for the queued call first
    # (mixup_compat.wait_for_pending_work_at_exit)
    check = ("import mixup, mxnet as mx; d = mx.nd.ones((4, 3)); l = mx.nd.array([0, 1, 2, 0]); "
             "o = mx.nd.Custom(d, l, alpha=0.2, num_classes=3, batch_size=4, "
             "mix_rate=0.7, op_type='MixUp'); print(o[1].shape)")
    out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120).stdout
    assert out.strip() == "(4, 3)"
