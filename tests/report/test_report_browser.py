"""The report as a browser draws it: headless Chromium opens the page, a probe script records what was drawn.

The probe (added to a copy of the page, the report itself has no script) writes each image's natural size, the
summary tables' shapes and the page's scroll width into the DOM; `--dump-dom` prints it. A second run takes a
laptop-sized screenshot. `.ci/run` installs Debian's `chromium` when it is missing.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import report_fakes as fakes

from obliviate.report import write_report

LAPTOP = (1366, 900)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", f"--window-size={LAPTOP[0]},{LAPTOP[1]}"]
PROBE = """<script>
addEventListener('load', () => {
  const images = Array.from(document.images).map(i => ({alt: i.alt, width: i.naturalWidth,
                                                         height: i.naturalHeight, complete: i.complete}));
  const tables = Array.from(document.querySelectorAll('table.summary')).map(t => ({
    id: t.id, rows: t.tBodies[0].rows.length, columns: t.tHead.rows[0].cells.length}));
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({images, tables, figures: document.querySelectorAll('figure.plot').length,
                                    scrollWidth: document.documentElement.scrollWidth, innerWidth});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    pytest.fail("headless Chromium not found: `apt-get install -y chromium chromium-driver` (.ci/run does this)")


def _run(page: Path, tmp: Path, *args: str) -> str:
    profile = tmp / f"profile-{args[0].strip('-').split('=')[0]}"  # a fresh profile per launch
    cmd = [_chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def probe(page: Path, tmp: Path) -> dict:
    """Open a probed copy of `page` and return what the browser drew."""
    probed = tmp / f"probed-{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _run(probed, tmp, "--dump-dom", "--virtual-time-budget=10000")
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; DOM starts: {dom[:500]!r}"
    return json.loads(html.unescape(found.group(1)))


def check_drawn(seen: dict, tables: int) -> None:
    """Every summary table has rows and columns; every plot's image decoded (natural width > 0); no sideways
    scrolling on a laptop screen."""
    assert len(seen["tables"]) == tables, seen["tables"]
    for t in seen["tables"]:
        assert t["rows"] > 0 and t["columns"] > 1, t
    assert seen["images"] and len(seen["images"]) == seen["figures"], seen
    broken = [i["alt"] for i in seen["images"] if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert not broken, f"images not drawn: {broken}"
    assert seen["scrollWidth"] <= seen["innerWidth"], f"page wider than the window: {seen}"


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(fakes.llm_suite() + fakes.vision_suite(), out, title="browser test")


def test_every_table_and_plot_is_drawn_and_screenshot_is_not_blank(page, tmp_path):
    seen = probe(page, tmp_path)
    check_drawn(seen, tables=2)
    assert seen["figures"] == 6  # five LLM plots + the vision cost plot
    shot = tmp_path / "report.png"
    _run(page, tmp_path, f"--screenshot={shot}")
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (LAPTOP[1], LAPTOP[0])
    assert float(np.std(pixels[..., :3])) > 0.02, "the screenshot is blank"


def test_a_broken_image_fails_the_check(page, tmp_path):
    """Corrupt one image's bytes: the browser cannot decode it, so its natural width is 0 and the check fails."""
    text = page.read_text(encoding="utf-8")
    head, tail = text.split("data:image/png;base64,", 1)
    broken = tmp_path / "broken.html"
    broken.write_text(head + "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg" + tail[tail.index('"'):],
                      encoding="utf-8")
    with pytest.raises(AssertionError, match="images not drawn: \\['Forgetting against utility'\\]"):
        check_drawn(probe(broken, tmp_path), tables=2)
