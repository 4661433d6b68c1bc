"""ONE self-contained HTML report of a run (``--netpol-html PATH``).

No network and no external assets: the CSS and the JavaScript are inline, the data is
a JSON block inside the page, and a Content-Security-Policy forbids loading anything.
Per scenario: its matrix as a coloured grid (rows sources, columns targets); hovering
or clicking a cell shows its details (expected, observed, tries, flipped, explanation,
probe and rerun commands); a "failures only" filter (also ``#failures`` in the address)
hides passing scenarios, rows and columns. The grid and the failing cells are plain
HTML (readable without JavaScript); the script adds the details and the filter, and
marks the page ``data-ready="1"`` when it has run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from html import escape

from harness.model import Status
from harness.report.baseline import deciding_line
from harness.report.baseline import headline
from harness.report.summary import BaselineSummary
from harness.report.summary import CellSummary
from harness.report.summary import ScenarioSummary
from harness.report.summary import by_step
from harness.report.summary import flipped_count
from harness.report.summary import status_counts
from harness.report.summary import step_title
from harness.report.tables import SYMBOLS
from harness.report.tables import column_of
from harness.report.tables import counts_line
from harness.report.tables import scenario_status
from harness.report.tables import totals_line

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_CSS = """
:root { --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9;
  --error: #9a6700; --error-bg: #fff8c5; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; background: #fff; }
header { padding: 12px 20px; border-bottom: 1px solid var(--line); background: #f6f8fa;
  margin-right: 370px; }
header h1 { font-size: 20px; margin: 0 0 4px; }
header p { margin: 2px 0; }
.muted { color: var(--muted); }
.legend span.c { display: inline-block; min-width: 22px; text-align: center; }
main { padding: 8px 20px 40px; margin-right: 380px; }
section.scenario { margin: 18px 0 26px; }
section.scenario h2 { font-size: 17px; margin: 0 0 2px; }
.badge { font-size: 12px; padding: 1px 7px; border-radius: 10px; color: #fff;
  vertical-align: 2px; margin-left: 6px; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.error { background: var(--error); }
table.grid { border-collapse: collapse; margin-top: 8px; }
table.grid th, table.grid td { border: 1px solid var(--line); }
table.grid th.row { text-align: right; padding: 2px 8px; font-weight: 600;
  white-space: nowrap; }
table.grid th.col { vertical-align: bottom; padding: 6px 2px; font-weight: 500; }
table.grid th.col span { writing-mode: vertical-rl; transform: rotate(180deg);
  white-space: nowrap; display: inline-block; }
td.c { width: 26px; height: 24px; text-align: center; cursor: pointer;
  font: 600 13px/1 ui-monospace, monospace; }
td.c.none { background: repeating-linear-gradient(45deg, #fff, #fff 3px, #eee 3px, #eee 6px);
  cursor: default; }
.c.pass { background: var(--pass-bg); color: var(--pass); }
.c.fail { background: var(--fail); color: #fff; }
.c.error { background: var(--error-bg); color: var(--error); }
.c.flipped { outline: 2px dashed var(--error); outline-offset: -4px; }
td.c.deny { box-shadow: inset 0 -3px 0 rgba(0, 0, 0, .18); }
td.c:hover, td.c:focus, td.c.selected { outline: 2px solid #0969da; outline-offset: -2px; }
details.failing { margin-top: 8px; }
details.failing li { margin: 2px 0; }
code, pre { font: 12px/1.4 ui-monospace, monospace; }
aside#details { position: fixed; top: 0; right: 0; width: 370px; height: 100%;
  overflow: auto; border-left: 1px solid var(--line); background: #fff; padding: 12px 14px; }
aside#details h3 { font-size: 15px; margin: 0 0 8px; word-break: break-all; }
aside#details dl { margin: 0; display: grid; grid-template-columns: 88px 1fr; gap: 4px 8px; }
aside#details dt { color: var(--muted); }
aside#details dd { margin: 0; word-break: break-word; }
aside#details pre { white-space: pre-wrap; word-break: break-all; margin: 0;
  background: #f6f8fa; padding: 4px 6px; border-radius: 4px; }
.only-failures section.scenario.pass, .only-failures .quiet { display: none; }
@media (max-width: 900px) { main, header { margin-right: 0; }
  aside#details { position: static; width: auto; height: auto; border: 0;
    border-top: 1px solid var(--line); } }
"""

# Our own script: details on hover/click/keyboard, the failures-only filter.
_JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("netpol-data").textContent);
  var panel = document.getElementById("details");
  var pinned = null;
  function cellOf(td) {
    var s = data.scenarios[+td.getAttribute("data-s")];
    return s ? s.cells[+td.getAttribute("data-i")] : null;
  }
  function field(dl, name, value, pre) {
    if (value === undefined || value === null || value === "") { return; }
    var dt = document.createElement("dt");
    dt.textContent = name;
    var dd = document.createElement("dd");
    if (pre) {
      var p = document.createElement("pre");
      p.textContent = String(value);
      dd.appendChild(p);
    } else {
      dd.textContent = String(value);
    }
    dl.appendChild(dt);
    dl.appendChild(dd);
  }
  function show(td) {
    var c = cellOf(td);
    if (!c) { return; }
    var s = data.scenarios[+td.getAttribute("data-s")];
    panel.textContent = "";
    var h = document.createElement("h3");
    h.textContent = s.scenario + " :: " + c.cell + "[" + c.expected + "]";
    panel.appendChild(h);
    var dl = document.createElement("dl");
    field(dl, "status", c.status.toUpperCase());
    field(dl, "expected", c.expected);
    field(dl, "observed", c.observed);
    field(dl, "tries", c.tries + " in " + Number(c.seconds || 0).toFixed(1) + "s");
    field(dl, "flipped", c.flipped ? "yes: the network changed its answer" : "no");
    field(dl, "source pod", c.source_pod);
    field(dl, "where", c.file ? c.file + (c.line ? ":" + c.line : "") : "");
    field(dl, "detail", c.detail, true);
    field(dl, "explanation", c.explanation, true);
    field(dl, "probe", c.rerun, true);
    field(dl, "rerun", c.pytest_rerun, true);
    panel.appendChild(dl);
    panel.hidden = false;
  }
  var selected = null;
  function select(td) {
    if (selected) { selected.classList.remove("selected"); }
    selected = pinned = td;
    td.classList.add("selected");
    show(td);
  }
  var cells = document.querySelectorAll("td.c[data-i]");
  Array.prototype.forEach.call(cells, function (td) {
    var c = cellOf(td);
    if (!c) { return; }
    td.title = c.cell + ": expected " + c.expected + ", observed " + c.observed +
      " (" + c.status + (c.flipped ? ", flipped" : "") + ")";
    td.tabIndex = 0;
    td.addEventListener("mouseenter", function () { if (!pinned) { show(td); } });
    td.addEventListener("click", function () { select(td); });
    td.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(td); }
    });
  });
  // Rows and columns whose every cell passed: hidden by the failures-only filter.
  Array.prototype.forEach.call(document.querySelectorAll("table.grid"), function (t) {
    var rows = t.tBodies[0].rows;
    var bad = [];
    Array.prototype.forEach.call(rows, function (tr) {
      var rowBad = false;
      Array.prototype.forEach.call(tr.cells, function (cell, i) {
        if (cell.classList.contains("fail") || cell.classList.contains("error")) {
          rowBad = true;
          bad[i] = true;
        }
      });
      if (!rowBad) { tr.classList.add("quiet"); }
    });
    var head = t.tHead.rows[0].cells;
    for (var i = 1; i < head.length; i++) {
      if (bad[i]) { continue; }
      head[i].classList.add("quiet");
      Array.prototype.forEach.call(rows, function (tr) { tr.cells[i].classList.add("quiet"); });
    }
  });
  var box = document.getElementById("only-failures");
  function filter() { document.body.classList.toggle("only-failures", box.checked); }
  box.addEventListener("change", filter);
  if (location.hash === "#failures") { box.checked = true; }
  filter();
  var first = document.querySelector("td.c.fail, td.c.error") || cells[0];
  if (first) { show(first); }
  document.documentElement.setAttribute("data-ready", "1");
}());
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _json(summaries: Sequence[ScenarioSummary]) -> str:
    text = json.dumps({"scenarios": list(summaries)}, sort_keys=True)
    # Inside <script>: no "</script>", no "<!--", whatever the data says.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _classes(cell: CellSummary) -> str:
    parts = ["c", str(cell["status"]), str(cell["expected"])]
    if cell.get("flipped"):
        parts.append("flipped")
    return " ".join(parts)


def _grid(index: int, summary: ScenarioSummary) -> list[str]:
    cells = list(summary.get("cells", []))
    rows = sorted({str(c["source"]) for c in cells})
    cols = sorted({column_of(c) for c in cells})
    steps = by_step(cells)  # a multi-step scenario: one grid a step, in order
    out: list[str] = []
    for step, indices in steps.items():
        at = {(str(cells[i]["source"]), column_of(cells[i])): i for i in indices}
        out.append('<table class="grid">')
        if len(steps) > 1:
            out.append(f"<caption>{_e(step_title(step))}</caption>")
        out.append("<thead><tr><th></th>")
        out += [f'<th class="col" scope="col"><span>{_e(col)}</span></th>' for col in cols]
        out.append("</tr></thead><tbody>")
        for r in rows:
            out.append(f'<tr><th class="row" scope="row">{_e(r)}</th>')
            for col in cols:
                found = at.get((r, col))
                if found is None:
                    out.append('<td class="c none"></td>')
                    continue
                c = cells[found]
                symbol = SYMBOLS.get(str(c["observed"]), "?")
                out.append(
                    f'<td class="{_classes(c)}" data-s="{index}" data-i="{found}">{_e(symbol)}</td>'
                )
            out.append("</tr>")
        out.append("</tbody></table>")
    return out


def _failing(summary: ScenarioSummary) -> list[str]:
    failing = [c for c in summary.get("cells", []) if c["status"] != Status.PASS.value]
    if not failing:
        return []
    out = [
        f'<details class="failing" open><summary>{len(failing)} failing '
        f"{'cell' if len(failing) == 1 else 'cells'}</summary><ul>"
    ]
    for c in failing:
        text = c.get("detail") if c["status"] == Status.ERROR.value else c.get("explanation")
        why = next((ln for ln in str(text or c.get("detail") or "").splitlines() if ln), "")
        out.append(
            f"<li><code>{_e(c['cell'])}[{_e(c['expected'])}]</code> {_e(c['status'])}: "
            f"expected {_e(c['expected'])}, observed {_e(c['observed'])}"
            f"{' (flipped)' if c.get('flipped') else ''}"
            f"{': ' + _e(why) if why else ''}</li>"
        )
    out.append("</ul></details>")
    return out


def _section(index: int, summary: ScenarioSummary) -> list[str]:
    status = scenario_status(summary)
    name = str(summary["scenario"])
    out = [
        f'<section class="scenario {status}" id="scenario-{_e(name)}" data-status="{status}">',
        f'<h2>{_e(name)}<span class="badge {status}">{status.upper()}</span></h2>',
    ]
    if summary.get("path"):
        out.append(f'<p class="muted"><code>{_e(summary["path"])}</code></p>')
    if summary.get("setup_error") and not summary.get("cells"):
        out.append(f"<p>not run: {_e(summary['setup_error'])}</p></section>")
        return out
    out.append(f"<p>{_e(counts_line(summary))}</p>")
    if summary.get("setup_error"):
        out.append(f"<p>setup failed: {_e(summary['setup_error'])}</p>")
    out += _grid(index, summary)
    out += _failing(summary)
    out.append("</section>")
    return out


def _baseline(baseline: BaselineSummary) -> list[str]:
    """The cells whose observed outcome changed since the baseline: plain HTML."""
    out = [
        '<section class="baseline" id="baseline">',
        "<h2>Changes since the baseline</h2>",
        f"<p>{_e(headline(baseline))}</p>",
    ]
    if baseline["changed"]:
        out.append(
            "<table><tr><th>cell</th><th>before</th><th>after</th><th>expected</th>"
            "<th>now decided by</th></tr>"
        )
        for c in baseline["changed"]:
            why = deciding_line(c["explanation"])
            out.append(
                f"<tr><td><code>{_e(c['scenario'])}::{_e(c['cell'])}</code></td>"
                f"<td>{_e(c['before']['observed'])}</td><td><b>{_e(c['after']['observed'])}</b>"
                f"</td><td>{_e(c['after']['expected'])}</td><td>{_e(why)}</td></tr>"
            )
        out.append("</table>")
    out.append("</section>")
    return out


def html_report(
    summaries: Sequence[ScenarioSummary],
    *,
    title: str = "netpol-harness report",
    now: datetime | None = None,
    baseline: BaselineSummary | None = None,
) -> str:
    """The HTML text: self-contained (inline CSS/JS/data; a CSP forbids any load).

    With ``baseline`` (``--netpol-baseline``), a first section lists the cells whose
    observed outcome changed since the previous run.
    """
    ordered = sorted(summaries, key=lambda s: str(s["scenario"]))
    when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    bad = sum(1 for s in ordered if scenario_status(s) != Status.PASS.value)
    flipped = sum(flipped_count(s) for s in ordered)
    counts = {k: 0 for k in (s.value for s in Status)}
    for s in ordered:
        for key, n in status_counts(s).items():
            counts[key] += n
    verdict = "all scenarios passed" if not bad else f"{bad} of {len(ordered)} scenarios failed"
    legend = " ".join(
        f'<span class="c {cls}">{_e(sym)}</span> {_e(text)}'
        for cls, sym, text in (
            ("pass", ".", "passed"),
            ("fail", "X", "failed"),
            ("error", "!", "no verdict"),
            ("pass flipped", ".", "flipped"),
        )
    )
    body = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_e(title)}: {_e(verdict)}</h1>",
        f"<p>{_e(totals_line(ordered))}</p>",
        f'<p class="muted">written {_e(when)}; rows are sources, columns targets; a cell shows '
        "what was observed (. connected, X dropped, R refused, D DNS failure, ! no verdict), "
        "its colour the verdict; a shaded bottom edge marks an expected deny. Hover or click "
        "a cell for its details.</p>",
        f'<p class="legend">{legend}</p>',
        '<p><label><input type="checkbox" id="only-failures"> failures only</label>'
        f' <span class="muted">({counts["fail"]} failed, {counts["error"]} errors, '
        f"{flipped} flipped)</span></p>",
        "</header>",
        "<main>",
    ]
    if baseline is not None:
        body += _baseline(baseline)
    for index, summary in enumerate(ordered):
        body += _section(index, summary)
    if not ordered:
        body.append("<p>no scenario ran</p>")
    body += [
        "</main>",
        '<aside id="details" hidden></aside>',
        f'<script type="application/json" id="netpol-data">{_json(ordered)}</script>',
        f"<script>{_JS}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(body) + "\n"
