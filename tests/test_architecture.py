"""The shape of the code: no import cycle in app/, and no import hidden in a function to dodge one.

Run alone: `.venv/bin/pytest -q tests/test_architecture.py` (no database needed). On failure it prints the cycle
(a → b → … → a) or the hidden imports.
"""
from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

# Function-level imports of the application's own modules that are allowed, and why. Everything else in a
# function is a cycle being dodged.
LAZY_OK = {
    "app": "the factory wires everything; importing it must not import the whole app",
    "app.cli": "commands load what they run (`flask --help` stays fast)",
    "app.cli_sla": "commands load what they run",
    "app.jobs.context": "a job builds the app in the worker",
    "app.demo.simulate": "the fake of the network chosen on the command line",
    "app.channels.telegram_cli": "commands load what they run",
    # Left as they are while app/channels and app/fakes change on another branch (issue 17); the email adapter's
    # import of services.mailer goes against the direction and should move to the outbox (services/replies).
    "app.channels.email": "to do after issue 17: the adapter should not import a service",
    "app.channels.vk": "to do after issue 17: split_text belongs in channels/base",
    "app.fakes.ok": "a fake signs like the real adapter",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(APP.rglob("*.py")):
        parts = list(path.relative_to(APP.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: dict) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    out = []
    for name in names:
        while name and name not in known:  # `from app.models import Ticket` → app.models
            name = name.rpartition(".")[0]
        if name and name != module:
            out.append(name)
    return out


def import_graph() -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """(module → modules it imports at module level, module → imports of app modules inside functions)."""
    known = _modules()
    graph: dict[str, set[str]] = {m: set() for m in known}
    lazy: dict[str, list[str]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module].update(_targets(node, module, is_package, known))
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        for target in _targets(node, module, is_package, known):
                            lazy.setdefault(module, []).append(f"{module}:{node.lineno} imports {target}")
    return graph, lazy


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path a → … → a, or None."""
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


def test_the_application_has_no_import_cycle():
    graph, _ = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_hides_an_import_of_the_application_in_a_function():
    _, lazy = import_graph()
    hidden = [line for module, lines in lazy.items() if module not in LAZY_OK for line in lines]
    assert not hidden, "imports inside functions (a cycle dodged?):\n" + "\n".join(hidden)


def test_the_import_direction_is_views_and_jobs_over_services_over_models():
    """services never import a blueprint, a job entry point or the CLI; models import no service."""
    graph, _ = import_graph()
    wrong = []
    for module, targets in graph.items():
        for target in targets:
            if module.startswith("app.services") and target.startswith(("app.blueprints", "app.cli")):
                wrong.append(f"{module} → {target}")
            if module.startswith("app.models") and target.startswith(("app.services", "app.blueprints", "app.jobs")):
                wrong.append(f"{module} → {target}")
    assert not wrong, "imports against the direction:\n" + "\n".join(wrong)


def test_moved_dotted_paths_still_resolve():
    """Paths stored before a move (the digest's workbook builder on Reply rows) still name the function."""
    from app.jobs import MOVED, resolve
    from app.services.board import digest

    assert resolve("app.services.digest.workbook") is digest.workbook
    for new in MOVED.values():
        assert callable(resolve(new))
