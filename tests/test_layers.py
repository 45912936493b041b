"""The package's shape: imports point one way down the layers of DESIGN.md, with no cycle and no
private name taken across packages (read from the source with ``ast``, function-level imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first: a module may import from its own layer's package and from the layers before it.
LAYERS = [
    {"domainfit._version", "domainfit.errors", "domainfit.notices", "domainfit.families", "domainfit._types",
     "domainfit._files", "domainfit.resources", "domainfit.units", "domainfit.parameters", "domainfit._assets", "domainfit.films",
     "domainfit.tasks"},
    {"domainfit.physics"},
    {"domainfit.imaging"},
    {"domainfit.features"},
    {"domainfit.data"},
    {"domainfit.nn"},
    {"domainfit.inference"},
    {"domainfit.surrogate"},
    {"domainfit.observations"},
    {"domainfit.forward"},
    {"domainfit.diagnostics"},
    {"domainfit.reports"},
    {"domainfit.workflows"},
    {"domainfit.cli", "domainfit.__main__"},
    {"domainfit"},
]


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(src: Path = SRC) -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """(module → project modules it imports, [(module, private name it takes from elsewhere)]): a private
    module (``imaging._scale``) is its package's, the root's (``_files``) everyone's; a private name
    (``_helper``) is its module's alone."""
    files = {module_name(p, src): p for p in (src / "domainfit").rglob("*.py")}
    edges, private = {m: set() for m in files}, []
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                names = [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                target, names = None, [a.name for a in node.names]
            else:
                continue
            for full in names:
                if not full.startswith("domainfit"):
                    continue
                t = full
                while t not in files and "." in t:
                    t = t.rpartition(".")[0]
                if t != mod:
                    edges[mod].add(t)
                parts = full.split(".")
                for k, part in enumerate(parts[1:], start=1):
                    if not part.startswith("_") or part.startswith("__"):
                        continue
                    owner = ".".join(parts[:k])
                    if f"{owner}.{part}" in files:  # a private module: for its own package (the root's: all)
                        allowed = owner == "domainfit" or mod == owner or mod.startswith(owner + ".")
                    else:  # a private name: for its own module only
                        allowed = False
                    if not allowed:
                        private.append((mod, full))
    return edges, private


def layer_of(mod: str) -> int:
    for i, layer in enumerate(LAYERS):
        for top in sorted(layer, key=len, reverse=True):
            if mod == top or (top != "domainfit" and mod.startswith(top + ".")):
                return i
    return len(LAYERS) - 1 if mod == "domainfit" else -1


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_reader_finds_a_cycle_and_a_private_import(tmp_path):
    """The checks themselves, on a package made to break both rules."""
    pkg = tmp_path / "domainfit"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "one.py").write_text("def f():\n    from .two import g\n")
    (pkg / "a" / "two.py").write_text("from . import one\n")
    (pkg / "a" / "_three.py").write_text("from .one import _hidden\n")
    (pkg / "b.py").write_text("from .a.one import _hidden\nfrom .a import _three\n")
    edges, private = imports(tmp_path)
    assert cycles(edges) == [["domainfit.a.one", "domainfit.a.two"]]
    assert sorted(private) == [("domainfit.a._three", "domainfit.a.one._hidden"), ("domainfit.b", "domainfit.a._three"),
                               ("domainfit.b", "domainfit.a.one._hidden")]


def test_no_import_cycle():
    edges, _ = imports()
    assert cycles(edges) == []


def test_no_private_name_is_taken_across_packages():
    _, private = imports()
    assert private == []


def test_imports_point_down_the_layers():
    edges, _ = imports()
    unknown = sorted(m for m in edges if layer_of(m) < 0)
    assert unknown == [], f"modules in no layer of DESIGN.md: {unknown}"
    upward = sorted((a, b) for a, bs in edges.items() for b in bs if layer_of(b) > layer_of(a))
    assert upward == []


def test_no_module_is_over_400_lines():
    root = SRC.parent
    long = {str(p.relative_to(root)): n for pattern in ("src/domainfit/**/*.py", "benchmarks/*.py", "studies/*.py",
                                                        "tools/**/*.py", "examples/**/*.py", "notebooks/*.py",
                                                        "tests/*.py")
            for p in root.glob(pattern) if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
