"""The tests mirror the package: every test module lives in unit/<pkg>/, integration/<pkg>/ or
e2e/, where <pkg> is a top-level name of src/qna_agent (or a repo-level area), and no test module
imports another one; what tests share lives in tests/fakes.py and tests/support/."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.app import ROOT

TESTS = ROOT / "tests"
PACKAGE = ROOT / "src" / "qna_agent"
# Checks of the repository itself rather than of a package: the deployment kit, the suite.
REPO_LEVEL = {"deploy", "suite"}


def all_test_modules() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def package_names() -> set[str]:
    return {
        path.stem if path.suffix == ".py" else path.name
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").is_file())
        or (path.suffix == ".py" and not path.name.startswith("_"))
    }


def misplaced(path: Path, allowed: set[str]) -> bool:
    parts = path.relative_to(TESTS).parts
    if parts[0] == "e2e":
        return len(parts) != 2
    return not (len(parts) == 3 and parts[0] in {"unit", "integration"} and parts[1] in allowed)


def test_every_test_module_lives_under_its_package() -> None:
    allowed = package_names() | REPO_LEVEL
    wrong = [str(p.relative_to(TESTS)) for p in all_test_modules() if misplaced(p, allowed)]
    assert not wrong, f"move these to unit/<pkg>/, integration/<pkg>/ or e2e/: {wrong}"


def test_every_test_directory_is_a_package() -> None:
    missing = [
        str(directory.relative_to(TESTS))
        for directory in {path.parent for path in all_test_modules()} | {TESTS / "support"}
        if not (directory / "__init__.py").is_file()
    ]
    assert not missing, f"add __init__.py (same-named test modules clash without): {missing}"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_another_or_conftest() -> None:
    offenders = {
        str(path.relative_to(TESTS)): sorted(
            name
            for name in imported_modules(path)
            if name.startswith("tests.")
            and any(part.startswith("test_") or part == "conftest" for part in name.split("."))
        )
        for path in TESTS.rglob("*.py")
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert not offenders, f"import from tests.fakes or tests.support instead: {offenders}"
