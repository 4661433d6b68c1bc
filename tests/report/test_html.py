"""The HTML report: self-contained (pure checks), and rendered in headless Chromium.

The Chromium tests skip when ``chromium`` is not on PATH (Debian package ``chromium``).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from harness.report import html_report
from harness.report import summarize
from harness.report.summary import ScenarioSummary
from tests.report import kit

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def _summaries(tmp_path: Path) -> list[ScenarioSummary]:
    bad = summarize(kit.result(tmp_path, decide=kit.mixed))
    green = summarize(kit.result(tmp_path, kit.named("green"), name="green.netpol.yaml"))
    return [bad, green]


def _report(tmp_path: Path) -> Path:
    page = tmp_path / "report.html"
    page.write_text(html_report(_summaries(tmp_path)), encoding="utf-8")
    return page


# ---------------------------------------------------------------- pure


def test_references_nothing_outside_the_file(tmp_path: Path) -> None:
    summaries = _summaries(tmp_path)
    for summary in summaries:  # no URL in the data either: then none may appear at all
        for cell in summary["cells"]:
            cell["rerun"] = cell["rerun"].replace("http://", "")
    text = html_report(summaries)
    assert not re.search(r"https?:", text, flags=re.IGNORECASE)
    assert not re.search(r"\b(src|href|action|srcset)\s*=", text, flags=re.IGNORECASE)
    assert not re.search(r"<(link|img|iframe|object|embed)\b", text, flags=re.IGNORECASE)
    assert "@import" not in text and "url(" not in text
    assert not re.search(r"\b(fetch|XMLHttpRequest|WebSocket|EventSource)\b", text)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_data_cannot_close_the_script(tmp_path: Path) -> None:
    summaries = _summaries(tmp_path)
    summaries[0]["cells"][0]["explanation"] = "</script><script>alert(1)</script>"
    text = html_report(summaries)
    assert text.count("<script") == 2  # the data block and our script
    assert "alert(1)</script>" not in text
    assert "&lt;/script&gt;" in text  # escaped in the static list of failing cells


def test_grid_is_plain_html_with_status_classes(tmp_path: Path) -> None:
    text = html_report(_summaries(tmp_path))
    assert len(re.findall(r'<section class="scenario ', text)) == 2
    assert '<section class="scenario fail" id="scenario-shop"' in text
    assert '<section class="scenario pass" id="scenario-green"' in text
    assert len(re.findall(r'<td class="c fail', text)) == 1
    assert len(re.findall(r'<td class="c error', text)) == 1
    assert len(re.findall(r'<td class="c pass[^"]* flipped"', text)) == 1
    assert len(re.findall(r'<td class="c (pass|fail|error)', text)) == 8
    assert 'id="only-failures"' in text


# ---------------------------------------------------------------- in Chromium


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_chromium
def test_after_the_script_ran_cells_have_details_and_the_filter_works(tmp_path: Path) -> None:
    page = _report(tmp_path)
    done = _chromium(tmp_path, "--dump-dom", page.as_uri())
    dom = done.stdout
    assert 'data-ready="1"' in dom, done.stderr[-2000:]
    # each grid cell, with the classes of its verdict, got its hover text and keyboard focus
    cells = re.findall(r"<td ([^>]*)>", dom)
    graded = [c for c in cells if re.search(r'class="c (pass|fail|error)', c)]
    assert len(graded) == 8
    assert all('title="' in c and 'tabindex="0"' in c for c in graded)
    failed = next(c for c in graded if 'class="c fail' in c)
    assert re.search(
        r'title="[^"]*: expected (allow|deny), observed \w+ \(fail, flipped\)"', failed
    )
    # the details panel shows the first failing cell: every field, the commands too
    panel = dom.split('<aside id="details"', 1)[1].split("</aside>", 1)[0]
    for field in ("expected", "observed", "tries", "flipped", "explanation", "probe", "rerun"):
        assert f"<dt>{field}</dt>" in panel
    assert "kubectl exec" in panel and "pytest 'scenarios/shop.netpol.yaml::" in panel
    # rows and columns where everything passed are marked for the failures-only filter
    assert 'class="quiet"' in dom
    assert '<body class="">' in dom or "<body>" in dom  # the filter is off by default

    filtered = _chromium(tmp_path, "--dump-dom", page.as_uri() + "#failures").stdout
    assert '<body class="only-failures">' in filtered


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@needs_chromium
def test_screenshot(tmp_path: Path) -> None:
    page = _report(tmp_path)
    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", page.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    assert _png_size(shot) == (1200, 900)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
