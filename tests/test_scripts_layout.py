"""The scripts around the package import each other as packages: no test, benchmark, study, tool,
example or notebook loads another file by path or edits ``sys.path`` (the repository root is on the
path of ``python -m`` and of the tests, pyproject's ``pythonpath``)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("tests", "benchmarks", "studies", "tools", "examples", "notebooks")


def path_loading(source: str) -> list[str]:
    """What in ``source`` edits sys.path or runs/loads a file by its path."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "sys" and node.attr == "path":
                found.append("sys.path")
        if isinstance(node, ast.Attribute) and node.attr in ("spec_from_file_location", "run_path", "syspath_prepend"):
            found.append(node.attr)
    return found


def test_the_reader_sees_each_way_of_loading_by_path():
    bad = ("import sys, runpy, importlib.util\nsys.path.insert(0, 'x')\nrunpy.run_path('a.py')\n"
           "importlib.util.spec_from_file_location('a', 'a.py')\ndef f(monkeypatch):\n    monkeypatch.syspath_prepend('x')\n")
    assert sorted(path_loading(bad)) == ["run_path", "spec_from_file_location", "sys.path", "syspath_prepend"]
    assert path_loading("from studies import sbc\nimport importlib\nimportlib.import_module('examples.quickstart')\n") == []


def test_no_script_loads_another_by_path_or_edits_sys_path():
    me = Path(__file__).resolve()
    found = {str(p.relative_to(ROOT)): hits for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))
             if p.resolve() != me and (hits := path_loading(p.read_text()))}
    assert found == {}


def test_benchmarks_are_benchmarks_only():
    """benchmarks/ holds what measures speed or accuracy against a peer; studies and asset builders live apart."""
    assert sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__") == [
        "calibration", "derivatives", "microscope", "relax", "scale_out", "simulator"]
