"""The HTML report of a tiny run in headless Chromium: front page, captions, nothing fetched."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from taskgrouping.report.report_shot import (
    category_script,
    find_chromium,
    remote_references,
    render,
    result_script,
)
from tests.workflow.test_workflow import TINY, _snakemake, _workdir

pytestmark = pytest.mark.report
needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="no Chromium to render the report: apt-get install -y chromium "
    "(or set TASKGROUPING_CHROMIUM to its executable)",
)

# Stages a benchmark's results are filed under, and the run description's own category.
CATEGORIES = {"run": {"description"}, "synthetic": {"probe", "group", "evaluate"}}
PACKAGES = ("python", "torch", "cvxpy", "highspy", "snakemake")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = _workdir(tmp_path_factory.mktemp("report"), TINY)
    _snakemake(work, "--cores", "2")
    _snakemake(work, "--report", str(work / "report.html"))
    return work / "report.html"


def _embedded(html: str, name: str) -> dict:
    """A JSON object the report embeds as ``var <name> = {...};``."""
    match = re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', html, re.DOTALL)
    assert match, f"the report embeds no {name}"
    return json.loads(match.group(1))


def _text(dom: str) -> str:
    """Visible text of a DOM dump, whitespace collapsed (scripts and styles dropped)."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.DOTALL | re.IGNORECASE)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


def test_every_result_is_filed_by_benchmark_and_stage_with_a_caption(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    categories = _embedded(html, "categories")
    results = _embedded(html, "results")
    assert {cat: set(subs) for cat, subs in categories.items()} == CATEGORIES
    filed = {path for subs in categories.values() for paths in subs.values() for path in paths}
    assert filed == set(results)
    for name in (
        "gains.png",
        "gains_over_time.png",
        "budget_curve.png",
        "groups.png",
        "totals.csv",
    ):
        assert f"figures/synthetic/{name}" in results
    for path, entry in results.items():
        caption = _text(entry["caption"])
        assert len(caption) > 100, f"{path} has no caption that explains how to read it"
        assert entry["data_uri"].startswith("data:"), f"{path} is not embedded in the report"


@needs_chromium
def test_front_page_says_what_was_run_and_loads_whole(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "front.png"
    page = render(report, screenshot=shot)
    assert page.failures() == []
    text = _text(page.dom)
    assert "Principled task grouping for multi-task learning" in text
    assert re.search(r"git commit [0-9a-f]{40} \((clean|with uncommitted changes)\)", text)
    for package in PACKAGES:
        assert re.search(rf"\b{package} \d+\.\d+", text), f"no version of {package} on the page"
    # the configuration with its defaults filled in, e.g. the solver's time limit
    assert "benchmarks: [synthetic]" in text and "time_limit_s: 60" in text
    for category in CATEGORIES:
        assert category in text
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (1000, 1400)
    assert pixels[..., :3].std() > 0.05, "the screenshot is blank"


@needs_chromium
def test_benchmark_category_lists_its_stages(report: Path) -> None:
    page = render(report, script=category_script("synthetic"))
    assert page.failures() == []
    listed = set(re.findall(r">\s*(probe|group|evaluate)\s*<", page.dom))
    assert listed == CATEGORIES["synthetic"]


@needs_chromium
def test_a_figure_opens_beside_its_caption(report: Path, tmp_path: Path) -> None:
    page = render(
        report,
        screenshot=tmp_path / "curve.png",
        script=result_script("figures/synthetic/budget_curve.png"),
    )
    assert page.failures() == []
    text = _text(page.dom)
    assert "Total test loss (summed over tasks;" in text and "reference lines" in text
    assert re.search(r'<img[^>]+src="data:image/png', page.dom)


def test_remote_references_are_found_but_links_are_not() -> None:
    html = (
        '<a href="https://snakemake.github.io">docs</a>'
        '<img src="https://example.org/x.png">'
        '<link rel="stylesheet" href="//cdn.example.org/s.css">'
        "<style>body { background: url('http://example.org/b.png') }</style>"
        '<img src="data:image/png;base64,AAAA">'
    )
    found = remote_references(html)
    assert len(found) == 3
    assert not any("snakemake.github.io" in ref for ref in found)


@needs_chromium
def test_a_report_that_fetches_from_the_network_fails_the_check(
    report: Path, tmp_path: Path
) -> None:
    leaky = tmp_path / "leaky.html"
    shutil.copyfile(report, leaky)
    html = leaky.read_text(encoding="utf-8")
    end = html.rindex("</body>")  # the report's scripts contain the string "</body>" too
    leaky.write_text(
        html[:end] + '<img src="http://example.invalid/x.png">' + html[end:], encoding="utf-8"
    )
    failures = render(leaky).failures()
    assert "network request http://example.invalid/x.png" in failures
    assert any(f.startswith("remote reference <img") for f in failures)
