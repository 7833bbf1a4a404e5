"""Point 4, part (b): no path from ``policies`` or ``daemon`` to the wire around the overlay.

Two independent checks over the source tree:

* the import graph (grimp, the engine under import-linter): no module under
  ``policies`` or ``daemon`` imports the FIX gateway except ``daemon.fix_router``;
* the syntax tree: no dynamic import by string of the FIX gateway, no import of a
  private name of ``risk`` (the approval capability), no ``__new__`` of ``Approved``.

Both pass trivially while those packages do not reach for the wire; the second half of
the file runs the same checks on throw-away packages that do, to show they can fail.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[3]
FIX_GATEWAY = "gateways.fix"  # the order-sending API: everything under it
ROUTER_MODULES = frozenset({"daemon.fix_router"})  # the one door to the wire
# Pure configuration models (pydantic sections) carry no send path; the daemon's config
# file embeds them.
CONFIG_ONLY = frozenset({"gateways.fix.settings"})
SOURCES = ("policies", "daemon")
CAPABILITY_NAMES = frozenset(
    {"_CAP", "_CAPABILITY", "_issue_capability", "_set_request", "_set_approved_ns", "_issued"}
)


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def graph_bypasses(
    roots: Iterable[str], sources: Iterable[str], gateway: str, allowed: frozenset[str]
) -> list[str]:
    """Direct imports of ``gateway`` from ``sources`` by modules other than ``allowed``."""
    graph = grimp.build_graph(*roots, cache_dir=None)
    found = []
    for source in sources:
        for module in sorted({source} | graph.find_descendants(source)):
            if module in allowed:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(module)):
                if _under(imported, gateway) and imported not in CONFIG_ONLY:
                    found.append(f"{module} -> {imported}")
    return found


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def source_bypasses(
    root: Path, sources: Iterable[str], gateway: str, allowed: frozenset[str]
) -> list[str]:
    """What the import graph cannot see: imports by string, private risk names, forgery."""
    gateway_string = re.compile(rf"^{re.escape(gateway)}(\.\w+)*$")
    found = []
    for source in sources:
        for path in sorted((root / source).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            is_package = rel.name == "__init__"
            module = ".".join(rel.parts[:-1] if is_package else rel.parts)
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                where = f"{module}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.ImportFrom):
                    target = _resolve_from(node, module, is_package)
                    names = [f"{target}.{a.name}" for a in node.names]
                    reaches = [n for n in [target, *names] if _under(n, gateway)]
                    if target in CONFIG_ONLY:
                        reaches = []  # settings classes: configuration, no send path
                    if module not in allowed and reaches:
                        found.append(f"{where} imports {target}")
                    if _under(target, "risk"):
                        found.extend(
                            f"{where} imports private {target}.{a.name}"
                            for a in node.names
                            if a.name.startswith("_")
                        )
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if module not in allowed and _under(alias.name, gateway):
                            found.append(f"{where} imports {alias.name}")
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if module not in allowed and gateway_string.match(node.value):
                        found.append(f"{where} names {node.value!r} (dynamic import?)")
                elif isinstance(node, ast.Attribute) and node.attr in CAPABILITY_NAMES:
                    found.append(f"{where} touches {node.attr}")
                elif isinstance(node, ast.Name) and node.id in CAPABILITY_NAMES:
                    found.append(f"{where} touches {node.id}")
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "__new__"
                    and node.args
                    and "Approved" in ast.unparse(node.args[0])
                ):
                    found.append(f"{where} builds an Approved with __new__")
    return found


# ------------------------------------------------------------ the real tree


def test_no_policy_or_daemon_module_imports_the_fix_gateway_except_the_fix_router():
    roots = ("core", "gateways", "exchange", "risk", "policies", "daemon")
    assert graph_bypasses(roots, SOURCES, FIX_GATEWAY, ROUTER_MODULES) == []


def test_no_policy_or_daemon_source_reaches_the_wire_or_the_approval_capability_by_other_means():
    assert source_bypasses(ROOT, SOURCES, FIX_GATEWAY, ROUTER_MODULES) == []


def test_risk_itself_imports_nothing_but_core():
    graph = grimp.build_graph(
        "core", "gateways", "exchange", "risk", "policies", "daemon", cache_dir=None
    )
    ours = {"gateways", "exchange", "policies", "daemon"}
    bad = [
        f"{m} -> {i}"
        for m in graph.find_descendants("risk") | {"risk"}
        for i in graph.find_modules_directly_imported_by(m)
        if i.split(".")[0] in ours
    ]
    assert bad == []


# ------------------------------------------- the checks can fail: rogue packages


@pytest.fixture
def rogue_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """rg_gw.fix is a stand-in FIX gateway; rg_pol and rg_dmn reach for it."""
    files = {
        "rg_gw/__init__.py": "",
        "rg_gw/fix/__init__.py": "",
        "rg_gw/fix/orders.py": "def send_new_order_single(msg): ...\n",
        "rg_pol/__init__.py": "",
        "rg_pol/clean.py": "import json\n",
        "rg_pol/direct.py": "from rg_gw.fix.orders import send_new_order_single\n",
        "rg_pol/sub/__init__.py": "",
        "rg_pol/sub/pkg_import.py": "from rg_gw import fix\n",
        "rg_dmn/__init__.py": "",
        "rg_dmn/fix_router.py": "from rg_gw.fix import orders\n",
        "rg_dmn/app.py": "import rg_gw.fix.orders\n",
        "rg_dmn/dynamic.py": "import importlib\nm = importlib.import_module('rg_gw.fix.orders')\n",
        "rg_dmn/forge.py": textwrap.dedent(
            """
            from risk.approval import _CAPABILITY, Approved
            from risk import overlay
            a = Approved(_CAPABILITY, None, 0)
            b = overlay._CAP
            c = Approved.__new__(Approved)
            """
        ),
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in [m for m in sys.modules if m.split(".")[0] in {"rg_gw", "rg_pol", "rg_dmn"}]:
        del sys.modules[mod]


def test_the_graph_check_flags_every_direct_import_of_the_gateway_but_the_router(rogue_tree: Path):
    found = graph_bypasses(
        ["rg_gw", "rg_pol", "rg_dmn"],
        ["rg_pol", "rg_dmn"],
        "rg_gw.fix",
        frozenset({"rg_dmn.fix_router"}),
    )
    assert sorted(found) == [
        "rg_dmn.app -> rg_gw.fix.orders",
        "rg_pol.direct -> rg_gw.fix.orders",
        "rg_pol.sub.pkg_import -> rg_gw.fix",
    ]


def test_the_graph_check_lets_the_router_module_through(rogue_tree: Path):
    found = graph_bypasses(
        ["rg_gw", "rg_dmn"], ["rg_dmn"], "rg_gw.fix", frozenset({"rg_dmn.fix_router", "rg_dmn.app"})
    )
    assert found == []


def test_the_source_check_flags_dynamic_imports_private_names_and_forgery(rogue_tree: Path):
    found = source_bypasses(
        rogue_tree, ["rg_pol", "rg_dmn"], "rg_gw.fix", frozenset({"rg_dmn.fix_router"})
    )
    text = "\n".join(found)
    assert "rg_pol.direct:1 imports rg_gw.fix.orders" in text
    assert "rg_pol.sub.pkg_import:1 imports rg_gw" in text
    assert "rg_dmn.app:1 imports rg_gw.fix.orders" in text
    assert "rg_dmn.dynamic:2 names 'rg_gw.fix.orders'" in text
    assert "rg_dmn.forge:2 imports private risk.approval._CAPABILITY" in text
    assert "rg_dmn.forge:5 touches _CAP" in text
    assert "rg_dmn.forge:6 builds an Approved with __new__" in text
    assert not any(line.startswith("rg_dmn.fix_router") for line in found)
    assert not any(line.startswith("rg_pol.clean") for line in found)
