"""report.html (``reports.html``, ``reports.pages``): one self-contained page per result, opened in headless
Chromium; the estimates are read back from the rendered DOM and compared with the report's numbers.

The browser is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: file descriptors
3 and 4, NUL-separated JSON; the standard library only). Measured on Chromium 150: ``--dump-dom`` with
``--enable-logging=stderr`` shows console messages and uncaught exceptions but not a resource that
fails to load or one the page's Content-Security-Policy blocks; the protocol reports all of them
(``Runtime.exceptionThrown``, ``Runtime.consoleAPICalled``, ``Log.entryAdded``) and every request.
Without a Chromium binary the browser tests are skipped (``.ci/run`` installs it where apt can).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = os.environ.get("DOMAINFIT_CHROMIUM") or next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome", "chrome")) if p), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium, or set "
                                    "DOMAINFIT_CHROMIUM): report.html is not opened in a browser")

READ_DOM = """JSON.stringify({
  title: document.title, h1: document.querySelector('h1').textContent, text: document.body.innerText,
  scripts: document.querySelectorAll('script').length,
  images: [...document.images].map(i => ({where: i.closest('[id]').id, ok: i.complete && i.naturalWidth > 0})),
  rows: Object.fromEntries([...document.querySelectorAll('tr[id]')].map(r => [r.id, {data: {...r.dataset},
        cells: [...r.cells].map(c => c.textContent), cls: r.className}])),
  order: [...document.body.children].map(e => e.id || (e.querySelector('[id]') || {}).id || e.tagName)})"""


class Browser:
    """Headless Chromium over the DevTools pipe: ``open(path)`` → (the DOM read by ``READ_DOM``, problems:
    exceptions, console messages, log entries of level warning or error, requests other than file:/data:,
    JavaScript dialogs)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp()
        pipe_in, self.w3 = os.pipe()
        self.r4, pipe_out = os.pipe()
        # the child's ends moved above 9, then made 3 and 4 by bash (no Python runs in the forked child)
        r3, w4 = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (pipe_in, pipe_out))
        for fd in (pipe_in, pipe_out):
            os.close(fd)
        bash = shutil.which("bash") or "/bin/bash"
        self.proc = subprocess.Popen(
            [bash, "-c", f'exec "$0" "$@" 3<&{r3} 4>&{w4} {r3}<&- {w4}>&-', CHROMIUM, "--headless", "--disable-gpu",
             "--no-sandbox", "--no-first-run", "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(r3, w4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r3)
        os.close(w4)
        self.buf, self.n, self.events = b"", 0, []

    def recv(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            if not select.select([self.r4], [], [], max(deadline - time.time(), 0.0))[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.r4, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method: str, params=None, session=None, timeout=60.0) -> dict:
        self.n += 1
        msg = {"id": self.n, "method": method, "params": params or {}} | ({"sessionId": session} if session else {})
        os.write(self.w3, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self.recv(deadline)
            if m.get("id") == self.n:
                if "error" in m:
                    raise RuntimeError(m["error"])
                return m["result"]
            self.events.append(m)

    def open(self, path: Path, timeout: float = 60.0) -> tuple[dict, list[str]]:
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=s)
        self.call("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=s)
        deadline = time.time() + timeout
        while not any(e.get("method") == "Page.loadEventFired" and e.get("sessionId") == s for e in self.events):
            self.events.append(self.recv(deadline))
        dom = json.loads(self.call("Runtime.evaluate", {"expression": READ_DOM, "returnByValue": True},
                                   session=s)["result"]["value"])
        self.call("Target.closeTarget", {"targetId": target})
        problems = []
        for e in (e for e in self.events if e.get("sessionId") == s):
            p, m = e.get("params", {}), e.get("method")
            if m in ("Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Page.javascriptDialogOpening"):
                problems.append(f"{m}: {json.dumps(p)[:300]}")
            elif m == "Log.entryAdded" and p["entry"]["level"] in ("warning", "error"):
                problems.append(f"log: {p['entry']['text']}")
            elif m == "Network.requestWillBeSent" and not p["request"]["url"].startswith(("file:", "data:")):
                problems.append(f"request: {p['request']['url']}")
        return dom, problems

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.w3)
        os.close(self.r4)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium binary")
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def cnn():
    import domainfit as df

    return df.estimate("example")


def network_references(page: str) -> list[str]:
    """Every reference of the page to something outside it, read by an HTML parser (so that text which
    merely looks like an attribute is not one): a URL attribute of any tag other than an embedded PNG
    or an anchor, a CSS url(…) or @import in a style element or attribute."""
    from html.parser import HTMLParser

    refs = []

    class Reader(HTMLParser):
        style = False

        def handle_starttag(self, tag, attrs):
            self.style = tag == "style"
            for name, value in attrs:
                if name in ("src", "href", "action", "srcset", "poster", "data", "formaction", "background"):
                    refs.append(value or "")
                elif name == "style":
                    self.css(value or "")

        def handle_data(self, data):
            if self.style:
                self.css(data)

        def css(self, text):
            refs.extend(re.findall(r"""url\(\s*["']?([^"')]+)""", text, flags=re.I) + re.findall(r"@import\s+([^;]+)", text))

    Reader().feed(page)
    return [r for r in refs if not r.startswith(("data:image/png;base64,", "#"))]


def section_ids(dom: dict) -> list[str]:
    """The ids of the page's top-level parts in order (headings and paragraphs without one left out)."""
    return [x for x in dom["order"] if not x.isupper()]


def fake_posterior(cnn_report: dict, rng):
    """An estimate report with a posterior block as ``estimate --posterior`` writes it (one chain, so it
    carries a reason not to trust it), its InferenceData and a predictive check."""
    import arviz as az

    from domainfit.reports import summarize

    d = rng.normal(0.78e-3, 0.1e-3, (1, 300))
    s = rng.normal(0.17, 0.01, (1, 300))
    idata = az.from_dict(posterior={"D": d, "sigma": s}, sample_stats={"diverging": np.zeros((1, 300), bool)})
    idata.attrs["units"] = json.dumps({"D": "J/m^2", "sigma": "1"})
    summary = summarize(idata, emit=False)
    check = {"samples": rng.normal(size=(100, 2)), "s_obs": np.array([0.3, -0.5]), "stat_names": ["cnn_D", "cnn_sigma"],
             "p_joint": 0.7, "z": [0.3, -0.5]}
    report = json.loads(json.dumps(cnn_report)) | {
        "posterior": summary["parameters"], "diagnostics": summary["diagnostics"],
        "posterior_predictive": {"p_joint": 0.7, "z": [0.3, -0.5], "statistics": ["cnn_D", "cnn_sigma"], "draws": 100}}
    report["reasons"] = summary["untrustworthy"]
    report["warnings"] = report["warnings"] + summary["warnings"]
    return report, idata, check


def assert_row_is(row: dict, entry: dict, low: float, high: float):
    """A table row of the page holds the report's numbers exactly (data-*) and shows them (4 digits)."""
    data = row["data"]
    assert float(data["mean"]) == entry["mean"] and float(data["sd"]) == entry["sd"]
    assert float(data["low"]) == pytest.approx(low, rel=1e-12) and float(data["high"]) == pytest.approx(high, rel=1e-12)
    assert row["cells"][1] == f"{entry['mean']:.4g}"


@needs_chromium
def test_the_estimate_page_opens_cleanly_and_holds_the_reports_numbers(cnn, browser, tmp_path):
    files = cnn.save(tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert files["html"] == tmp_path / "report.html" and report["files"]["html"] == str(tmp_path / "report.html")
    dom, problems = browser.open(files["html"])
    assert problems == []
    assert dom["scripts"] == 0 and dom["h1"] == "domainfit estimate: example"
    for name, entry in report["parameters"].items():
        row = dom["rows"][f"estimate-{name}"]
        if entry.get("fixed"):
            assert float(row["data"]["mean"]) == entry["mean"] and row["data"]["low"] == ""
            continue
        assert_row_is(row, entry, entry["mean"] - 1.6448536269514722 * entry["sd"],
                      entry["mean"] + 1.6448536269514722 * entry["sd"])
    # the warnings before everything else; the image with its walls drawn, decoded by the browser
    assert section_ids(dom)[:4] == ["warnings", "film", "image", "estimates"]
    assert "film assumed: co-pt" in dom["text"] and "ASSUMED, not given" in dom["text"]
    assert [i["where"] for i in dom["images"] if i["ok"]] == ["walls"]


@needs_chromium
def test_the_posterior_page_shows_the_intervals_figures_and_reasons_first(cnn, browser, tmp_path):
    from domainfit.reports import write_posterior_files

    report, idata, check = fake_posterior(cnn.report, np.random.default_rng(0))
    files = write_posterior_files(tmp_path, report, idata=idata, check=check, config=cnn.config)
    dom, problems = browser.open(files["html"])
    assert problems == []
    for name in ("D", "sigma"):
        e = report["posterior"][name]
        assert_row_is(dom["rows"][f"estimate-{name}"], e, e["hdi_low"], e["hdi_high"])
        c = report["parameters"][name]
        assert float(dom["rows"][f"cnn-{name}"]["data"]["mean"]) == c["mean"]
    assert report["reasons"] and section_ids(dom)[:2] == ["reasons", "warnings"]  # one chain: no R-hat
    assert "only one chain" in dom["text"].split("Warnings")[0]
    assert sorted(i["where"] for i in dom["images"] if i["ok"]) == ["pair", "predictive", "walls"]
    assert len(dom["images"]) == 3


def test_a_hostile_file_and_film_name_are_shown_not_run(request, tmp_path):
    import domainfit as df
    from domainfit import imaging
    from PIL import Image

    folder = tmp_path / "<script>alert(1)<"
    folder.mkdir()
    path = folder / "script>.png"  # the file tmp_path/<script>alert(1)</script>.png
    data = imaging.load("example").data
    Image.fromarray(np.uint8(np.clip((data + 1) * 127.5, 0, 255))).save(path)
    r = df.estimate(path, pixel_size="8nm")
    r.report["film"]["name"] = "<img src=x onerror=alert(2)>"
    files = r.save(tmp_path / "out")
    page = files["html"].read_text()
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.png" in page and network_references(page) == []
    if CHROMIUM is None:
        return  # the page's text is checked; not opened
    dom, problems = request.getfixturevalue("browser").open(files["html"])
    assert problems == [] and dom["scripts"] == 0
    assert dom["h1"].endswith("<script>alert(1)</script>.png") and "<img src=x onerror=alert(2)>" in dom["text"]
    assert all(i["ok"] for i in dom["images"])


def test_the_largest_page_is_self_contained_and_under_5_MB(tmp_path):
    """A 512² image with every figure (the posterior's too); no reference leaves the page."""
    import domainfit as df
    from domainfit.reports import write_posterior_files

    r = df.estimate("example-512")
    report, idata, check = fake_posterior(r.report, np.random.default_rng(1))
    files = write_posterior_files(tmp_path, report, idata=idata, check=check, config=r.config)
    page = files["html"].read_text()
    size = files["html"].stat().st_size
    assert 100_000 < size < 5_000_000, size
    assert page.count("data:image/png;base64,") == 3 and network_references(page) == []
    # the check itself finds what it is there to find
    assert network_references('<p>src=x</p><img src="https://x.org/a.png"><link href=style.css><style>a{b:url(//c/d)}'
                              '</style>') == ["https://x.org/a.png", "style.css", "//c/d"]


def test_the_simulator_paths_page_shows_its_interval_predictive_check_and_budget():
    """The film path's report (``interval``/``prob``, ``statistics``, ``error_budget``), rendered alone."""
    from domainfit.reports.html import render_estimate_html

    report = {"method": "simulator", "reasons": ["fresh simulations do not reproduce the image"], "warnings": [],
              "parameters": {"D": {"mean": 0.61, "sd": 0.05, "interval": [0.53, 0.69], "prob": 0.9, "unit": "mJ/m^2"}},
              "statistics": {"names": ["log_period"], "predictive_z": [3.4], "predictive_p": 0.001},
              "error_budget": {"shares": {"Ku": 0.6, "A": 0.4}}, "image": {"path": "x.tif"}, "timing": {"total_s": 9}}
    page = render_estimate_html(report, {})
    assert 'data-mean="0.61" data-sd="0.05" data-low="0.53" data-high="0.69" data-prob="0.9"' in page
    assert "central interval of the draws" in page and '<span id="predictive-p">0.001</span>' in page
    assert "60.0 %" in page and page.index('id="reasons"') < page.index('id="film"') < page.index('id="budget"')


TABLE = {
    "evidence": {"co-pt": {"log_evidence": 2.6011, "error": 0.0201},
                 "<b>low-ms</b>": {"log_evidence": -15.63, "error": 0.0187}},
    "best": "co-pt",
    "bayes_factors": {"<b>low-ms</b>": {"log_bayes_factor": 18.234, "error": 0.0275,
                                        "interpretation": "very strong evidence for co-pt (log BF = 18.23 ± 0.03)"}},
    "probabilities": {"co-pt": 0.99999998, "<b>low-ms</b>": 1.2e-08}, "decided": True,
    "reasons": ["the best film does not reproduce the image"], "warnings": ["low-ms: statistic cnn_D is outside"],
    "image": {"path": "example", "shape": [256, 256], "pixel_size_nm": 8.0}, "wall_time_s": 57.2,
}


@needs_chromium
def test_the_comparison_page_holds_the_evidences_and_bayes_factors(browser, tmp_path):
    from domainfit.reports.pages import write_comparison_files

    table = json.loads(json.dumps(TABLE))
    files = write_comparison_files(tmp_path, table, config={"command": "compare", "invert": False})
    assert json.loads(files["json"].read_text())["files"]["html"] == str(files["html"])
    dom, problems = browser.open(files["html"])
    assert problems == [] and section_ids(dom)[:3] == ["reasons", "warnings", "models"]
    for name, ev in TABLE["evidence"].items():
        row = dom["rows"][f"model-{name}"]["data"]
        assert float(row["logEvidence"]) == ev["log_evidence"] and float(row["error"]) == ev["error"]
        assert float(row["probability"]) == TABLE["probabilities"][name]
    assert float(dom["rows"]["model-<b>low-ms</b>"]["data"]["logBf"]) == 18.234
    assert dom["rows"]["model-co-pt"]["data"]["logBf"] == "" and "explains the image best" in dom["text"]
    assert [i["where"] for i in dom["images"] if i["ok"]] == ["walls"]


def test_compare_out_writes_the_files_of_the_comparison(tmp_path, monkeypatch, capsys):
    """``domainfit compare … --out DIR``: one call of ``compare`` (stubbed here: its SMC takes a minute),
    then report.json, config.json and report.html."""
    import domainfit.workflows.compare as wc
    from domainfit.cli import main

    monkeypatch.setattr(wc, "compare", lambda *a, **k: wc.Comparison(json.loads(json.dumps(TABLE | {"reasons": []}))))
    assert main(["compare", "example", "--out", str(tmp_path / "c"), "--particles", "10", "--runs", "2"]) == 0
    assert {p.name for p in (tmp_path / "c").iterdir()} == {"report.json", "config.json", "report.html"}
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["command"] == "compare" and config["particles"] == 10
    assert 'data-model="&lt;b&gt;low-ms&lt;/b&gt;"' in (tmp_path / "c" / "report.html").read_text()
    capsys.readouterr()


@needs_chromium
def test_the_series_page_of_the_ta_wedge_example(browser, tmp_path):
    import importlib

    est = importlib.import_module("examples.ta_wedge.estimate_series")  # as tests/test_examples.py imports them
    from domainfit.reports.plots import figure_png, image_figure

    (tmp_path / "series.png").write_bytes(figure_png(image_figure(np.zeros((8, 8)), 1e-8)))
    rows = [{"series": "wedge", "position": i, "ta_nm": 0.5 * i, "file": f"w{i}.tif", "D_mean": 0.5 + 0.1 * i,
             "D_hdi_low": 0.4 + 0.1 * i, "D_hdi_high": 0.6 + 0.1 * i, "D_cnn": 0.5, "D_ref": 0.5, "D_ref_err": 0.1,
             "D_true": 0.5, "D_in_hdi": True, "sigma_mean": 0.1, "sigma_hdi_low": 0.08, "sigma_hdi_high": 0.12,
             "sigma_true": 0.1, "sigma_in_hdi": True, "trustworthy": i != 1, "reasons": "R-hat 1.2" if i == 1 else ""}
            for i in range(3)]
    config = type("C", (), dict(chains=2, samples=100, warmup=60, predictive=0))
    path = est.report_page(rows, tmp_path, 12.0, ("wedge",), config)
    dom, problems = browser.open(path)
    assert problems == [] and section_ids(dom)[:2] == ["reasons", "warnings"]
    assert "wedge 1 (Ta 0.5 nm): R-hat 1.2" in dom["text"]
    for i, r in enumerate(rows):
        row = dom["rows"][f"row-{i}"]
        assert float(row["data"]["dMean"]) == r["D_mean"] and float(row["data"]["dHdiHigh"]) == r["D_hdi_high"]
        assert ("bad" in row["cls"]) == (not r["trustworthy"])
    assert [i["where"] for i in dom["images"] if i["ok"]] == ["figure-series"]
