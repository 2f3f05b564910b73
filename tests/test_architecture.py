"""The import direction, read from the source files (stdlib ``ast``): ``workers → app → rag_engine``.

rag_engine stands alone (no web, queue or channel code, nor the app or the workers); the app never
imports the workers (it names their jobs by dotted path); inside the app there is no import cycle
and the layers only look down: infra ← services ← channels ← edges.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE_MUST_NOT_IMPORT = ("app", "workers", "flask", "rq", "redis", "twilio", "postmarker")
# Lower number = lower layer. A module may import its own layer and the ones below it, never above.
LAYERS = {"app.domain_errors": 0, "app.infra": 1, "app.services": 2, "app.channels": 3}
EDGE = 4  # everything else in app: api/, dashboard/, widget, webhooks, auth, cli, errors, the factory…


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / package).rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module ``name`` imports (at any depth: in functions too), as dotted names."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:  # "from pkg import module" imports that module
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return found


def graph(package: str) -> dict[str, set[str]]:
    found = modules(package)
    known = set(found)
    return {name: imported(name, path, known) for name, path in found.items()}


def within(names: set[str], roots: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(n == r or n.startswith(r + ".") for r in roots)}


def layer(name: str) -> int:
    return next((rank for prefix, rank in LAYERS.items() if name == prefix or name.startswith(prefix + ".")), EDGE)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), plus self-imports."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in edges:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges[node]:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_rag_engine_imports_neither_the_app_the_workers_nor_web_queue_or_channel_libraries():
    offenders = {name: sorted(within(targets, ENGINE_MUST_NOT_IMPORT)) for name, targets in graph("rag_engine").items()}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_rag_engine_loads_no_web_queue_or_channel_code_in_a_fresh_interpreter():
    code = (
        "import sys, rag_engine\n"
        "from rag_engine import KnowledgeBase\n"
        f"bad = [m for m in {ENGINE_MUST_NOT_IMPORT!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_the_app_never_imports_the_workers():
    offenders = {name: sorted(within(targets, ("workers",))) for name, targets in graph("app").items()}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_app_has_no_import_cycle():
    edges = {name: within(targets, ("app",)) for name, targets in graph("app").items()}
    assert cycles(edges) == []


def test_the_app_layers_only_import_downwards():
    upward = {}
    for name, targets in graph("app").items():
        above = sorted(t for t in within(targets, ("app",)) if layer(t) > layer(name) and t != "app")
        if above:
            upward[name] = above
    assert upward == {}


def test_no_module_name_names_two_layers():
    """``chat.py`` beside ``api/chat.py`` made readers guess which was the logic: one noun, one layer."""
    layers: dict[str, set[int]] = {}
    for name in modules("app"):
        stem = name.rsplit(".", 1)[-1]
        if stem not in ("app", "__init__"):
            layers.setdefault(stem.removesuffix("s"), set()).add(layer(name))
    assert {stem: sorted(found) for stem, found in layers.items() if len(found) > 1} == {}


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
