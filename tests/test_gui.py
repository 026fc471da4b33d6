"""Nengo GUI opens the example models, runs them and shows the plots.

Starts nengo_gui's server on 127.0.0.1, drives Debian's Chromium headless through
Playwright, presses play, and checks the page's plots have data and its error
console is empty. Screenshots go to ``results/gui/`` (or $NENGO_MIF_SCREENSHOTS).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUI_DIR = ROOT / "notebooks" / "gui"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(os.environ.get("NENGO_MIF_SCREENSHOTS", ROOT / "results" / "gui"))

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (apt-get install chromium); .ci/run installs it",
)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gui_server():
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from nengo_gui.main import main; main()",
            "--no-browser",
            "-P",
            str(port),
            "--auto-shutdown",
            "0",
        ],  # listens on localhost only
        cwd=GUI_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        text=True,
    )
    url = None  # the server prints its address with a one-time security token
    deadline = time.time() + 60
    while url is None and time.time() < deadline:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, "nengo_gui exited before serving"
        if "token=" in line:
            url = line.strip()
    assert url, "nengo_gui printed no address"
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.parametrize("model, n_plots", [("neurons.py", 10), ("mif_network.py", 5)])
def test_gui_runs_model_and_shows_plots(gui_server, model, n_plots):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(gui_server)  # log in with the token
        page.goto(gui_server.split("?")[0] + f"?filename={model}")
        page.wait_for_selector("div.graph", timeout=60_000)
        assert page.locator("div.graph").count() >= n_plots
        page.click("#pause_button")  # start the simulation
        # wait until the plots have drawn a good stretch of simulated time
        page.wait_for_function(
            "() => [...document.querySelectorAll('div.graph path.line')]"
            ".some(p => (p.getAttribute('d') || '').length > 2000)",
            timeout=120_000,
        )
        page.wait_for_timeout(1500)
        shot = SHOTS / f"{Path(model).stem}.png"
        page.screenshot(path=str(shot))
        error = page.locator("#console_error").inner_text()
        plots = page.evaluate(BOXES, "div.graph")
        nodes = page.evaluate(BOXES, "#netgraph g.node, #netgraph g.ens, #netgraph g.net")
        spikes = page.evaluate(RASTER_SPIKES)
        browser.close()
    assert error.strip() == "", f"the GUI shows an error: {error}"
    assert len(plots) >= n_plots and nodes
    overlaps = [(a, b) for i, a in enumerate(plots) for b in plots[i + 1 :] if overlap(a, b)]
    overlaps += [(a, b) for a in plots for b in nodes if overlap(a, b)]
    assert not overlaps, f"plots overlap each other or the network graph: {overlaps}"
    assert spikes and all(n > 0 for n in spikes), f"a raster shows no spikes: {spikes}"
    assert shot.stat().st_size > 20_000


#: the page-space bounding box of each element matching a selector
BOXES = """sel => [...document.querySelectorAll(sel)].map(e => {
    const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
}).filter(b => b[2] > b[0] && b[3] > b[1])"""
#: per raster plot (the plots with a neuron-highlight layer), its spike marks
RASTER_SPIKES = """() => [...document.querySelectorAll('div.graph')]
    .filter(g => g.querySelector('g.neuron_highlights') !== null)
    .map(g => [...g.querySelectorAll('path.line')]
        .reduce((n, p) => n + ((p.getAttribute('d') || '').match(/M/g) || []).length, 0))"""


def overlap(a, b, tolerance: float = 1.0) -> bool:
    """Whether two boxes (left, top, right, bottom) share more than a border."""
    return (
        min(a[2], b[2]) - max(a[0], b[0]) > tolerance
        and min(a[3], b[3]) - max(a[1], b[1]) > tolerance
    )
