"""Render a Snakemake HTML report in headless Chromium: screenshots and checks that it is whole.

``python -m taskgrouping.report.report_shot report.html figures/report.png`` writes a screenshot
of the front page (and, with ``--category``, of a results category) and fails when the page
fetched anything from the network, loaded a resource that failed, or raised a JavaScript error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

#: Environment variable naming the Chromium executable (else ``chromium`` on the PATH).
CHROMIUM_ENV = "TASKGROUPING_CHROMIUM"
WINDOW = (1400, 1000)
# Without the background-networking flags Chromium's own services try to reach Google at start.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Without it a screenshot may be taken before Tailwind's styles reach the page.
    "--run-all-compositor-stages-before-draw",
)
# Long enough for the report's scripts (React, Tailwind, Vega) to run and draw.
_VIRTUAL_TIME_MS = 10_000
# Console lines that mean the page did not load whole.
_CONSOLE_FAILURE = re.compile(r"Failed to load resource|net::ERR_|Uncaught|SyntaxError")
_CONSOLE_LINE = re.compile(r":CONSOLE[^\]]*\]\s*(.*)")
# Attributes whose URL the browser fetches on its own (links a user may click are not listed).
_FETCHED = {"src", "srcset", "poster", "data", "background"}
_FETCHED_HREF_TAGS = {"link", "image", "use", "script", "iframe", "embed"}
_REMOTE = re.compile(r"^\s*(https?:|wss?:|ftp:|//)", re.IGNORECASE)
_CSS_REMOTE = re.compile(r"url\(\s*['\"]?\s*(https?:|//)", re.IGNORECASE)


class ChromiumMissing(RuntimeError):
    """No Chromium executable was found."""


@dataclass(frozen=True)
class Rendering:
    """What one headless load of a page gave.

    Attributes
    ----------
    dom
        The document after its scripts ran (``--dump-dom``).
    console
        The page's console messages, one per line.
    page_requests
        Network (http, https, ws) URLs that the page itself asked for; Chromium's own service
        requests are left out.
    """

    dom: str
    console: list[str]
    page_requests: list[str]

    def failures(self) -> list[str]:
        """Everything that shows the page did not load whole from the file alone."""
        found = [f"network request {url}" for url in self.page_requests]
        found += [f"remote reference {ref}" for ref in remote_references(self.dom)]
        found += [f"console: {line}" for line in self.console if _CONSOLE_FAILURE.search(line)]
        return found


def find_chromium() -> str | None:
    """The Chromium executable: ``$TASKGROUPING_CHROMIUM``, else chromium on the PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium() -> str:
    found = find_chromium()
    if found is None:
        raise ChromiumMissing(
            f"no Chromium found: install Debian's chromium package (apt-get install -y chromium) "
            f"or set {CHROMIUM_ENV} to its executable"
        )
    return found


def _page(report: Path, script: str | None, folder: Path) -> Path:
    """``report`` itself, or a copy that runs ``script`` once the report's app has started."""
    if script is None:
        return report
    text = report.read_text(encoding="utf-8")
    hook = (
        "<script>window.addEventListener('load', () => setTimeout(() => {"
        f"{script}"
        "}, 0));</script>"
    )
    index = text.rfind("</body>")
    page = folder / report.name
    page.write_text(
        text[:index] + hook + text[index:] if index >= 0 else text + hook, encoding="utf-8"
    )
    return page


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{args[0]} exited with status {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    return proc


def _page_requests(net_log: Path) -> list[str]:
    """URLs of network requests the page made; Chromium's own have no origin as initiator."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log.get("events", []):
        params = event.get("params", {})
        if event.get("type") != start_job or params.get("initiator") == "not an origin":
            continue
        url = params.get("url", "")
        if re.match(r"(https?|wss?)://", url):
            urls.append(url)
    return urls


def render(
    report: Path | str,
    *,
    screenshot: Path | str | None = None,
    script: str | None = None,
    window: tuple[int, int] = WINDOW,
    timeout_s: float = 120.0,
) -> Rendering:
    """Load ``report`` in headless Chromium, optionally run ``script`` and take a screenshot.

    ``script`` is JavaScript run after the page has loaded, e.g. ``app.showCategory('x')`` to
    open a category of a Snakemake report. Each load uses a fresh browser profile.
    """
    report = Path(report).resolve()
    if not report.is_file():
        raise FileNotFoundError(f"{report}: no such report file")
    chromium = _chromium()
    with tempfile.TemporaryDirectory(prefix="report_shot.") as tmp:
        folder = Path(tmp)
        url = _page(report, script, folder).as_uri()
        common = [*_FLAGS, f"--window-size={window[0]},{window[1]}"]
        net_log = folder / "net.json"
        proc = _run(
            [
                chromium,
                *common,
                f"--user-data-dir={folder / 'profile-dom'}",
                "--enable-logging=stderr",
                "--v=0",
                f"--log-net-log={net_log}",
                f"--virtual-time-budget={_VIRTUAL_TIME_MS}",
                "--dump-dom",
                url,
            ],
            timeout_s,
        )
        console = [m.group(1) for m in map(_CONSOLE_LINE.search, proc.stderr.splitlines()) if m]
        rendering = Rendering(proc.stdout, console, _page_requests(net_log))
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            shot.parent.mkdir(parents=True, exist_ok=True)
            # Chromium writes the file itself; a temporary name keeps a failed shot from
            # replacing a good one.
            partial = folder / "shot.png"
            _run(
                [
                    chromium,
                    *common,
                    f"--user-data-dir={folder / 'profile-shot'}",
                    f"--virtual-time-budget={_VIRTUAL_TIME_MS}",
                    f"--screenshot={partial}",
                    url,
                ],
                timeout_s,
            )
            if not partial.is_file() or partial.stat().st_size == 0:
                raise RuntimeError(f"{chromium} wrote no screenshot of {report}")
            shutil.copyfile(partial, shot.with_name(f".{shot.name}.tmp"))
            os.replace(shot.with_name(f".{shot.name}.tmp"), shot)
    return rendering


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            href = name in ("href", "xlink:href") and tag in _FETCHED_HREF_TAGS
            fetched = name in _FETCHED or href
            if fetched and any(_REMOTE.match(part) for part in value.split(",")):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name == "style" and _CSS_REMOTE.search(value):
                self.found.append(f"<{tag} style={value!r}>")

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style" and _CSS_REMOTE.search(data):
            self.found.append("<style> with a remote url(...)")


def remote_references(html: str) -> list[str]:
    """Elements of ``html`` that make the browser fetch from another host (src, stylesheets,
    CSS ``url()``); plain links a user may follow are not counted."""
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser.found


def category_script(category: str) -> str:
    """JavaScript that opens ``category`` of a Snakemake report."""
    return f"app.showCategory({json.dumps(category)});"


def result_script(path: str) -> str:
    """JavaScript that opens the result ``path`` of a Snakemake report: its caption beside it,
    and the figure itself when it is an image."""
    key = json.dumps(path)
    return (
        f"const entry = results[{key}]; app.setView({{navbarMode: 'resultinfo', "
        f"resultPath: {key}, content: entry.mime_type.startsWith('image/') ? 'img' : undefined, "
        "contentPath: entry.data_uri});"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m taskgrouping.report.report_shot",
        description="Screenshot a Snakemake HTML report in headless Chromium and check that it "
        "loads whole from the file (no network requests, no failed resources, no script errors).",
    )
    parser.add_argument("report", type=Path, help="the report (snakemake --report report.html)")
    parser.add_argument("out", type=Path, help="PNG of the front page")
    parser.add_argument(
        "--category",
        action="append",
        default=[],
        metavar="NAME",
        help="also screenshot this results category, into OUT's folder as report_<NAME>.png",
    )
    parser.add_argument(
        "--show",
        action="append",
        default=[],
        metavar="PATH",
        help="also screenshot the result PATH (as listed in the report) with its caption, into "
        "OUT's folder as report_<file name>.png",
    )
    args = parser.parse_args(argv)
    shots = [(args.out, None)]
    wanted = [(name, category_script(name)) for name in args.category]
    wanted += [(Path(path).stem, result_script(path)) for path in args.show]
    for name, script in wanted:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        shots.append((args.out.with_name(f"{args.out.stem}_{slug}.png"), script))
    failed = False
    for out, script in shots:
        try:
            rendering = render(args.report, screenshot=out, script=script)
        except (ChromiumMissing, FileNotFoundError, RuntimeError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for failure in rendering.failures():
            print(f"{out}: {failure}", file=sys.stderr)
            failed = True
        print(out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
