"""Dependencies point inward (style.md §1): checked on the import graph, transitively.

The layer rules are import-linter contracts in pyproject.toml (``[tool.importlinter]``); this file
runs them and adds what a contract cannot say without a list to keep: the console reaches only
the three allowed engine packages, the ground floor (domain, protocol) builds on nothing else of
the engine, no module imports itself through others (an import circle), and only the composition
root (``engine.cli``) reaches Textual or the app.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
APP_MAY_IMPORT = {"engine.domain", "engine.protocol", "engine.config"}


@cache
def graph() -> grimp.ImportGraph:
    # Function-level and TYPE_CHECKING imports count: a circle through either is still a circle.
    return grimp.build_graph("engine", "stom_tui", include_external_packages=True, cache_dir=None)


def test_layer_contracts_hold() -> None:
    # In a child process: import-linter configures logging with disable_existing_loggers, which
    # silenced the engine's loggers for every test that ran after this one in the same process.
    run = subprocess.run(
        [sys.executable, "-c", LINT, str(ROOT / "pyproject.toml")],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


LINT = (
    "import sys\n"
    "from importlinter.cli import lint_imports\n"
    "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))\n"
)


def test_the_console_reaches_only_domain_protocol_and_config() -> None:
    # The contract in pyproject.toml lists today's engine modules; this needs no list, so a
    # module added to the engine tomorrow is covered too.
    g = graph()
    offenders = sorted(
        f"stom_tui -> {module}"
        for module in g.find_upstream_modules("stom_tui", as_package=True)
        if module.startswith("engine.") and not module.startswith(tuple(APP_MAY_IMPORT))
    )
    assert offenders == []


def test_domain_and_protocol_import_nothing_else_of_the_engine() -> None:
    # The ground floor: everything may build on it, it builds on nothing (transitively).
    g = graph()
    floor = ("engine.domain", "engine.protocol")
    offenders = sorted(
        f"{package} -> {module}"
        for package in floor
        for module in g.find_upstream_modules(package, as_package=True)
        if module.startswith("engine.") and not module.startswith(floor)
    )
    assert offenders == []


def test_no_module_imports_itself_through_others() -> None:
    circles = _strongly_connected(graph())
    assert circles == []


def test_only_the_cli_reaches_textual_or_the_app() -> None:
    # engine/cli (and ``python -m engine``, which runs it) is the composition root: it starts
    # the console, so it may import stom_tui.
    g = graph()
    offenders = sorted(
        f"{module} -> {target}"
        for module in g.modules
        if module.startswith("engine.") and not module.startswith(("engine.cli", "engine.__main__"))
        for target in ("textual", "stom_tui")
        if g.chain_exists(importer=module, imported=target)
    )
    assert offenders == []


def _strongly_connected(g: grimp.ImportGraph) -> list[list[str]]:
    """Import circles among the project's own modules (Tarjan's algorithm, iterative)."""
    own = {m for m in g.modules if m.split(".")[0] in ("engine", "stom_tui")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in sorted(own):
        if root in index:
            continue
        work = [(root, iter(sorted(g.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in own:
                    continue  # an external package
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(g.find_modules_directly_imported_by(target)))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == node:
                            break
                    if len(members) > 1:
                        circles.append(sorted(members))
    return circles
