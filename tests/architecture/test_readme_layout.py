"""The README's layout map against the tree: every module named, nothing named that is gone."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layout_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1]
    block = section.split("```\n", 2)[1]
    return block.splitlines()


def _leading_files(tokens: list[str]) -> list[str]:
    """The module names a line starts with (``a.py b.py   what they do``)."""
    names: list[str] = []
    for token in tokens:
        if not token.endswith(".py"):
            break
        names.append(token)
    return names


def _mapped_paths() -> set[str]:
    """Paths the map names: a folder line opens a folder, module names below it join it."""
    paths: set[str] = set()
    stack: list[tuple[int, str]] = []  # (indent, folder path with "/")
    for line in _layout_block():
        tokens = line.split()
        if not tokens:
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        base = stack[-1][1] if stack else ""
        if tokens[0].endswith("/"):
            folder = base + tokens[0]
            paths.add(folder.rstrip("/"))
            stack.append((indent, folder))
            paths.update(folder + name for name in _leading_files(tokens[1:]))
        elif base:
            paths.update(base + name for name in _leading_files(tokens))
    return paths


def _modules(package: str) -> set[str]:
    return {
        str(p.relative_to(ROOT))
        for p in (ROOT / package).rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }


def test_every_harness_module_is_on_the_map() -> None:
    missing = sorted(_modules("harness") - _mapped_paths())
    assert missing == [], f"README.md ## Layout does not name: {missing}"


def test_the_map_names_nothing_that_does_not_exist() -> None:
    gone = sorted(p for p in _mapped_paths() if not (ROOT / p).exists())
    assert gone == [], f"README.md ## Layout names missing paths: {gone}"


def test_the_sibling_packages_and_top_level_folders_are_on_the_map() -> None:
    mapped = _mapped_paths()
    for folder in ("harness", "netpol_sandbox", "manifests", "scenarios", "tests", "bench"):
        assert folder in mapped
