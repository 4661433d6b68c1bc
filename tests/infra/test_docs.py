"""The kind/CI/RBAC docs stay in step with the files they describe."""

from __future__ import annotations

import re

from tests.infra._repo import ROOT
from tests.infra._repo import WORKFLOWS
from tests.infra._repo import load_all

DOCS = ROOT / "docs"


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_ci_doc_names_the_actions_the_workflow_uses() -> None:
    (workflow,) = load_all(WORKFLOWS / "e2e-kind.yml")
    uses = {s["uses"] for s in workflow["jobs"]["e2e-kind"]["steps"] if "uses" in s}
    text = _text("ci.md")
    for ref in uses:
        assert ref in text, f"docs/ci.md does not mention {ref}"


def test_ci_doc_names_the_pinned_kind_release() -> None:
    (workflow,) = load_all(WORKFLOWS / "e2e-kind.yml")
    version = workflow["env"]["KIND_VERSION"]
    assert f"built for kind {version}" in _text("ci.md")


def test_pin_instructions_are_consistent() -> None:
    for name in ("ci.md",):
        assert "scripts/kind-up --pin" in _text(name)
    assert "scripts/kind-up --pin" in (ROOT / "scripts" / "calico.sha256").read_text()


def test_runbook_documents_the_check_interface() -> None:
    text = _text("runbook.md")
    assert "netpol-harness check production/web database/app=mysql:3306/TCP --expect allow" in text
    codes = dict(re.findall(r"^\| (\d) \| (.+) \|$", text, flags=re.MULTILINE))
    assert set(codes) == {"0", "1", "2"}
    assert "netpol-harness predict" in text and "--explain" in text


def test_docs_link_to_each_other() -> None:
    for name, links in {
        "staging.md": ("rbac.md", "runbook.md"),
        "runbook.md": ("rbac.md", "staging.md"),
    }.items():
        text = _text(name)
        for link in links:
            assert f"]({link})" in text
            assert (DOCS / link).is_file()
