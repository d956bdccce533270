"""report.html: one self-contained page (styles, pictures, the viewer's script and each
case's image data inline) that a clinician can open without the other files, offline."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from covplan.reporting.overview_plot import patients_overview_svg
from covplan.reporting.severity import band_descriptions
from covplan.reporting.table import reader_row
from covplan.version import __version__

VIEWER_SCRIPT = "viewer.js"  # beside this module, inlined into every page

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
th { background: #eee; } td:first-child { text-align: left; }
tr.positive td.result { color: #b00; font-weight: bold; }
.note { background: #fff6d5; border-left: 4px solid #e0b000; padding: 0.5em 1em; }
section.case { margin: 1.5em 0; } section.case h3 { font-size: 1em; font-weight: normal; }
.viewer { display: inline-block; outline: none; }
.viewer:focus-visible { outline: 2px solid #4a90d9; }
.viewer .views { display: flex; flex-wrap: wrap; gap: 6px; align-items: flex-start; background: #000; padding: 6px; }
.viewer canvas { cursor: crosshair; }
.viewer .controls { display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; align-items: center; font-size: 0.85em;
  margin-top: 0.4em; max-width: 900px; }
.viewer input[name="slice"] { width: 260px; vertical-align: middle; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 0.25em 0 0.5em; vertical-align: middle; }
.swatch.heat { background: linear-gradient(to right, #000, #ffdd00); }
svg.overview { font-size: 11px; font-family: sans-serif; } svg.overview .tick { fill: #555; }
"""


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _viewer_script() -> str:
    return resources.files(__package__).joinpath(VIEWER_SCRIPT).read_text()


def _json_in_script(content: Any) -> str:
    """JSON that cannot end its <script> element early."""
    return json.dumps(content, separators=(",", ":")).replace("</", "<\\/")


def _cell(value: Any) -> str:
    return "n/a" if value is None else html.escape(str(value))


def _header(column: str) -> str:
    return html.escape(column.replace("_percent_of_lung", " % of lung").replace("_", " "))


def _patients_table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(column for row in rows for column in row))
    lines = ["<table>", "<tr>" + "".join(f"<th>{_header(column)}</th>" for column in columns) + "</tr>"]
    for row in map(reader_row, rows):
        cells = "".join(f'<td class="{html.escape(column)}">{_cell(row.get(column))}</td>' for column in columns)
        lines.append(f'<tr class="{row["result"]}">{cells}</tr>')
    lines.append("</table>")
    return "\n".join(lines)


def _case_sections(report: Mapping[str, Any], overlays: Mapping[str, bytes],
                   viewers: Mapping[str, Mapping[str, Any]]) -> str:
    """A viewer per case over its key slice's picture, which stays where JavaScript does not run."""
    unit = report["unit"]
    sections = []
    for case in report["cases"]:
        case_id = case["case_id"]
        amounts = ", ".join(f"{name} {amount:.1f} {unit}" for name, amount in case["lesions"].items())
        lung = "lung unknown" if case["lung"] is None else f"lung {case['lung']:.1f} {unit}"
        caption = (f"<b>{html.escape(case_id)}</b> (patient {html.escape(case['patient_id'])}): "
                   f"{'positive' if case['positive'] else 'negative'}; {html.escape(lung)}; {html.escape(amounts)}")
        sections.append(f'<section class="case"><h3>{caption}</h3>\n<div class="viewer" tabindex="0">'
                        f'<img src="{_data_uri(overlays[case_id])}" class="key-slice" alt="{html.escape(case_id)}">'
                        f'<script type="application/json" class="viewer-data">{_json_in_script(viewers[case_id])}'
                        "</script></div></section>")
    return "\n".join(sections)


def _method_notes(report: Mapping[str, Any]) -> str:
    unit = "ml (volumes)" if report["unit"] == "ml" else "mm² (single slices; PNG slices count pixels as 1 × 1 mm)"
    bands = "".join(f"<li>{html.escape(line)}</li>" for line in band_descriptions())
    return f"""
<h2>How the numbers are made</h2>
<ul>
<li>Amounts in {unit}, summed over all cases of a patient.</li>
<li>Lung = every lung voxel plus every lesion voxel (lesions lie inside the lung); shares are
lesion amounts in percent of it. Infection = all lesion types together.</li>
<li>A patient is positive when any of their cases has a lesion.</li>
<li>Severity grade from the infection share of the whole lung (covplan's choice: the bands of the
per-lobe CT severity score of Pan et al., Radiology 2020, applied to the whole lung; not a validated
clinical score):<ul>{bands}</ul></li>
</ul>"""


def render_html(report: Mapping[str, Any], overlays: Mapping[str, bytes], severity_plot: bytes | None,
                viewers: Mapping[str, Mapping[str, Any]]) -> str:
    """The whole page as one string; ``viewers`` holds each case's viewer data
    (:func:`covplan.reporting.viewer_data.viewer_payload`)."""
    notes = ['<p class="note">Automatic segmentation for research; not a diagnosis. '
             'Check every overlay before using a number.</p>']
    if report["lung_source"] is None:
        notes.append('<p class="note">The model has no lung label, so the lung amount, the lesion shares '
                     'and the severity grade are unknown (n/a). Give the images (<code>--images</code>) to '
                     'derive the lungs from them, or lung masks (<code>--lung-masks</code>), to measure them.</p>')
    derived = report.get("derived_lung_cases")
    if derived:
        notes.append(f'<p class="note">The model has no lung label: the lungs of {len(derived)} case(s) were derived '
                     'from the image by thresholds (air-like voxels inside the body, holes filled, the largest '
                     f'components; see docs/report.md): {html.escape(", ".join(derived))}.</p>')
    skipped = report.get("skipped_slices")
    if skipped:
        notes.append(f'<p class="note">The slice classifier called {skipped["skipped"]} of {skipped["classified"]} '
                     'slices lesion-free; they were not segmented (all background).</p>')
    plot = ""
    if severity_plot is not None:
        plot = (f'<h2>Lesions by severity grade of the source data</h2>'
                f'<img src="{_data_uri(severity_plot)}" alt="lesion share by severity grade">')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>covplan report</title><style>{STYLE}</style></head>
<body>
<h1>covplan report</h1>
<p>Predictions: <code>{html.escape(report["prediction_dir"])}</code>; {len(report["patients"])} patient(s),
{len(report["cases"])} case(s); covplan {html.escape(__version__)}.</p>
{"".join(notes)}
<h2>Patients at a glance</h2>
{patients_overview_svg(report["patients"], report["unit"])}
<h2>Patients</h2>
{_patients_table(report["patients"])}
{plot}
<h2>Cases</h2>
<p>Each case opens at its slice with the most lesion. Move through the slices with the slider, the mouse
wheel over a view or the arrow keys (click the viewer first; Page Up/Down: 10 slices); click a view to
move the others to that point. The white marks show where the other views cut.</p>
{_case_sections(report, overlays, viewers)}
{_method_notes(report)}
<script>{_viewer_script()}</script>
</body></html>
"""
