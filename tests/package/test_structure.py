"""The package's shape (issue 13): imports only point down, small modules, a light import.

The import graph is read from the source (every ``import``, also inside functions and under
``TYPE_CHECKING``: a hidden import is still a dependency), so a cycle fails here even when
Python happens to resolve it at run time.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "camviz"
MAX_LINES = 400
#: Known debts exempted from the checks (none now: issue 11's study package and train/ merged).
PENDING_LONG: set[str] = set()
PENDING_CYCLE_EDGES: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    """``module -> camviz modules it imports`` (a ``from pkg import sub`` names the submodule)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against this module's package
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [mod, *subs]
            for t in targets:
                while t and t not in mods:  # `import camviz.cam.hooks as h`, attribute paths
                    t = t.rpartition(".")[0]
                if t and t != name and (name, t) not in PENDING_CYCLE_EDGES:
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_graph_sees_hidden_imports(tmp_path):
    graph = import_graph()
    assert "camviz.registry" in graph["camviz.models.spec"]
    assert "camviz.cam.methods" in graph["camviz.cam"]   # `from camviz.cam.methods import ...`


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_over_400_lines():
    long = {name: n for name, p in _modules().items()
            if (n := len(p.read_text().splitlines())) > MAX_LINES and name not in PENDING_LONG}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _import_effects(module: str) -> dict:
    """Heavy modules loaded and environment variables changed by ``import module``, in a
    fresh interpreter whose environment has none of the variables torch sets itself."""
    code = ("import json, os, sys; before = dict(os.environ); import " + module + "; "
            "print(json.dumps({'mods': sorted(m for m in ('gradio', 'cv2', 'matplotlib') "
            "if m in sys.modules), 'env': sorted(k for k in set(os.environ) | set(before) "
            "if os.environ.get(k) != before.get(k))}))")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GRADIO_", "HF_HUB_", "TORCHINDUCTOR_")) and k != "NO_PROXY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_camviz_is_light():
    """``import camviz`` loads neither gradio nor cv2 and changes no environment variable
    beyond what importing torch and torchvision themselves do (torchvision's import of
    torch._dynamo sets TORCHINDUCTOR_CACHE_DIR; camviz needs torchvision)."""
    baseline = _import_effects("torch, torchvision")
    got = _import_effects("camviz")
    assert got["mods"] == []
    assert set(got["env"]) <= set(baseline["env"]), set(got["env"]) - set(baseline["env"])


def test_ruff_finds_nothing():
    """The lint rules of pyproject.toml hold everywhere (code, tests, benchmarks, docs scripts)."""
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format",
                           "concise", str(ROOT)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
