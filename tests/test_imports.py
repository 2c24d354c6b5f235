"""The packages' import structure: no import circle in `helpers` or `coursetools`, and `helpers` (what a
learner reads) never imports `coursetools` (the course's tooling).

Two checks of the circles: every import statement of every module, those inside functions included (a lazy
import only hides a circle), as a graph that must have no cycle; and every module imported first, in a
fresh interpreter of its own, so no import order hides a module that cannot be imported on its own.
"""
import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("helpers", "coursetools")


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the two packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that the module `name` imports anywhere in its file: for `from M import x`,
    M.x when x is a module, else M."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a function or class: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imported_modules(name, path, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_finds_a_circle_hidden_in_a_function(tmp_path):
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": set()}
    assert find_cycle(graph) == ["p.a", "p.b", "p.c", "p.a"]
    assert find_cycle({"p.a": {"p.b"}, "p.b": set()}) is None
    source = "def late():\n    from .b import thing\n"
    path = tmp_path / "a.py"
    path.write_text(source)
    assert imported_modules("p.a", path, {"p.a", "p.b"}) == {"p.b"}


def test_no_import_circle_in_helpers_or_coursetools():
    graph = import_graph()
    assert {"helpers.receipts", "coursetools.runner", "coursetools.cli"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_helpers_never_imports_coursetools():
    importers = {name: sorted(m for m in targets if m.split(".")[0] == "coursetools")
                 for name, targets in import_graph().items() if name.split(".")[0] == "helpers"}
    importers = {name: found for name, found in importers.items() if found}
    assert not importers, f"helpers modules importing the course tooling: {importers}"


# Run in a fresh interpreter: import the third-party libraries once, then fork one child per module, which
# imports that module first (and checks that no helpers module pulls in coursetools).
IMPORT_EACH_FIRST = textwrap.dedent("""
    import importlib, os, sys, traceback
    modules, third_party = sys.argv[1].split(","), sys.argv[2].split(",")
    for name in third_party:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    assert not [m for m in sys.modules if m.split(".")[0] in ("helpers", "coursetools")]
    failed = []
    for name in modules:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                importlib.import_module(name)
                if name.split(".")[0] == "helpers" and "coursetools" in sys.modules:
                    print(f"{name}: importing it imports coursetools", flush=True)
                    code = 1
            except BaseException:
                print(f"{name}:\\n{traceback.format_exc()}", flush=True)
                code = 1
            os._exit(code)
        if os.waitpid(pid, 0)[1] != 0:
            failed.append(name)
    print("FAILED " + " ".join(failed) if failed else "ALL IMPORTED")
""")


def test_every_module_imports_first_in_a_fresh_interpreter():
    files = module_files()
    third_party = set()
    for path in files.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                third_party |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                third_party.add(node.module.split(".")[0])
    third_party -= set(PACKAGES) | {"__future__"}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    modules = [name for name in files if not name.endswith("__main__")]  # __main__ runs the command line
    proc = subprocess.run([sys.executable, "-c", IMPORT_EACH_FIRST, ",".join(modules), ",".join(sorted(third_party))],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ALL IMPORTED"), proc.stdout + proc.stderr


def test_the_maps_name_every_module_of_the_tree():
    """helpers/__init__.py's map and the README's "Layout" name every module and subpackage at the top of
    helpers/; coursetools/__init__.py's list and the README name every module of coursetools/."""
    import helpers
    import coursetools
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    top = {p.stem for p in (ROOT / "helpers").glob("*.py") if p.stem != "__init__"}
    subpackages = {p.parent.name for p in (ROOT / "helpers").glob("*/__init__.py")}
    for name in top:
        assert f"`{name}`" in helpers.__doc__, f"helpers/__init__.py's map does not name {name}"
        assert name in layout, f"README's Layout does not name helpers/{name}.py"
    for name in subpackages:
        assert f"`{name}/`" in helpers.__doc__, f"helpers/__init__.py's map does not name {name}/"
        assert f"{name}/" in layout, f"README's Layout does not name helpers/{name}/"
    for path in (ROOT / "coursetools").glob("*.py"):
        if path.stem not in ("__init__", "__main__"):
            assert f"`{path.stem}`" in coursetools.__doc__, f"coursetools/__init__.py does not name {path.stem}"
            assert path.stem in layout, f"README's Layout does not name coursetools/{path.name}"
