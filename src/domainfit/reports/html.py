"""The page a group meeting reads: one self-contained HTML report of an estimate, a comparison or a series.

Pure renderers (``render_estimate_html``, ``render_compare_html``, ``render_series_html``): a report
dict (user units, as written to ``report.json``) and its figures as PNG bytes in, one HTML string out.
The page needs nothing beyond itself — the figures are embedded as base64, the style is inline, there is
no script, and its Content-Security-Policy forbids any other source, so it opens offline and cannot
reach the network. Every string from the report (file names, film names, messages) is escaped. The
reasons not to trust a result come first, in a red banner, the other warnings in an amber one.

Each estimate is a table row ``<tr data-param="D" data-mean=… data-sd=… data-low=… data-high=…>``
(ids ``estimate-D``, ``cnn-D``, ``model-NAME``), so that a program reads the numbers back from the page.
The writers of the pages (figures read, the walls overlay drawn) are in ``reports.pages``.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence

from .._version import __version__

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The page's Content-Security-Policy: images only from ``data:`` URIs, inline style, nothing else."""

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;margin:1.5em auto;
padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.sub{color:#555;margin-top:0}
.banner{border-radius:6px;padding:.6em 1em;margin:.8em 0}
.banner h2{border:0;margin:.1em 0 .3em;font-size:1.1em}
.red{background:#fde2e1;border:2px solid #c62828}.amber{background:#fff4d6;border:2px solid #e0a000}
.green{background:#e6f4ea;border:2px solid #2e7d32}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#fde2e1}tr.best td{font-weight:600}
figure{margin:.6em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{color:#555;font-size:.9em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}.muted{color:#777}
"""

SYMBOLS = {"sigma": "σ", "D": "D", "Ms": "Ms", "Ku": "Ku", "A": "A", "thickness": "t"}
UNITS = {"mJ/m^2": "mJ/m²", "MJ/m^3": "MJ/m³", "1": "dimensionless", "J/m^2": "J/m²", "J/m^3": "J/m³"}


def esc(x) -> str:
    """``x`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(x), quote=True)


def finite(x) -> float | None:
    """``x`` as a finite float, else None (None, NaN, inf, text)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def num(x, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits; "—" where there is none."""
    v = finite(x)
    return "—" if v is None else f"{v:.{digits}g}"


def data_num(x) -> str:
    """A number for programs (a ``data-`` attribute): full precision, empty where there is none."""
    v = finite(x)
    return "" if v is None else repr(v)


def unit_text(unit) -> str:
    return UNITS.get(str(unit), str(unit)) if unit is not None else ""


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def page(title: str, parts: Sequence[str]) -> str:
    """The whole document: head (charset, CSP, style) and the ``parts`` (HTML) in order."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(p for p in parts if p)
            + f"\n<p class=\"muted\">page written by domainfit {esc(__version__)}</p>\n</body></html>\n")


def banner(reasons: Sequence[str], warnings: Sequence[str], *, what: str = "these numbers") -> str:
    """Red: the reasons not to trust; amber: the other warnings; green when there are neither."""
    reasons = [str(r) for r in reasons]
    others = [str(w) for w in warnings if str(w) not in reasons]
    out = []
    if reasons:
        out.append(f"<div class=\"banner red\" id=\"reasons\"><h2>NOT TRUSTWORTHY — do not rely on {esc(what)}</h2>"
                   + bullets(reasons) + "</div>")
    if others:
        out.append("<div class=\"banner amber\" id=\"warnings\"><h2>Warnings</h2>" + bullets(others) + "</div>")
    if not out:
        out.append("<div class=\"banner green\" id=\"no-warnings\">No reason not to trust the result was found, "
                   "and no warning was raised.</div>")
    return "\n".join(out)


def bullets(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def section(title: str, body: str, ident: str | None = None) -> str:
    if not body:
        return ""
    anchor = f" id=\"{esc(ident)}\"" if ident else ""
    return f"<section{anchor}><h2>{esc(title)}</h2>\n{body}\n</section>"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], attrs: Sequence[str] | None = None) -> str:
    """A table; ``header`` plain text, ``rows`` of HTML cells (``<td>`` added; a cell starting with
    "<td" is taken whole), ``attrs`` the attributes of each ``<tr>`` (already escaped)."""
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"
    body = []
    for i, row in enumerate(rows):
        a = (" " + attrs[i]) if attrs and attrs[i] else ""
        body.append(f"<tr{a}>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>")
    return "<table>" + head + "".join(body) + "</table>"


def ncell(x, digits: int = 4) -> str:
    return f"<td class=\"num\">{num(x, digits)}</td>"


def figure(png: bytes | None, alt: str, caption: str = "", ident: str | None = None) -> str:
    if not png:
        return ""
    anchor = f" id=\"{esc(ident)}\"" if ident else ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure{anchor}><img alt=\"{esc(alt)}\" src=\"{png_uri(png)}\">{cap}</figure>"


def flat(mapping, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dict → [(dotted key, value text)]; short lists of numbers are written out."""
    out = []
    for k, v in (mapping or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out += flat(v, key + ".")
        elif isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            out.append((key, ", ".join(num(x) for x in v)))
        elif isinstance(v, float):
            out.append((key, num(v)))
        else:
            out.append((key, str(v) if not isinstance(v, (list, tuple)) else "; ".join(map(str, v))))
    return out


def kv_table(mapping, ident: str | None = None) -> str:
    rows = flat(mapping)
    if not rows:
        return ""
    anchor = f" id=\"{esc(ident)}\"" if ident else ""
    return f"<table{anchor}>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>"


def interval_of(entry: Mapping) -> tuple[float | None, float | None, float, str]:
    """(low, high, probability, how) of a parameter's interval in any of the report's forms: a posterior's
    HDI (``hdi_low``/``hdi_high``), the simulator's central interval (``interval``), the period law's
    (``hdi``); else the normal interval mean ± 1.645 sd of a spread (the CNN's calibrated sd)."""
    prob = finite(entry.get("hdi_prob", entry.get("prob"))) or 0.9
    if entry.get("fixed"):
        return None, None, prob, "fixed"
    if "hdi_low" in entry:
        return finite(entry["hdi_low"]), finite(entry.get("hdi_high")), prob, "highest-density interval"
    for key, how in (("interval", "central interval of the draws"), ("hdi", "highest-density interval of the draws")):
        if isinstance(entry.get(key), (list, tuple)) and len(entry[key]) == 2:
            return finite(entry[key][0]), finite(entry[key][1]), prob, how
    mean, sd = finite(entry.get("mean")), finite(entry.get("sd"))
    if mean is None or not sd:
        return None, None, prob, "—"
    return mean - 1.6448536269514722 * sd, mean + 1.6448536269514722 * sd, 0.9, "normal: mean ± 1.645 sd"


def estimates_table(params: Mapping, prefix: str, ident: str) -> str:
    """The table of estimates: parameter, mean, sd, interval, unit, how (one row per parameter)."""
    rows, attrs = [], []
    for name, e in params.items():
        if not isinstance(e, Mapping):
            continue
        lo, hi, prob, how = interval_of(e)
        interval = "—" if lo is None else f"[{num(lo)}, {num(hi)}] ({100 * prob:.0f} %)"
        symbol = SYMBOLS.get(name, name)
        rows.append([esc(symbol), ncell(e.get("mean")), ncell(e.get("sd"), 2), esc(interval), esc(unit_text(e.get("unit"))),
                     esc(how + (" (not estimated)" if e.get("fixed") else ""))])
        attrs.append(f"id=\"{esc(prefix)}-{esc(name)}\" data-param=\"{esc(name)}\" data-mean=\"{data_num(e.get('mean'))}\" "
                     f"data-sd=\"{data_num(e.get('sd'))}\" data-low=\"{data_num(lo)}\" data-high=\"{data_num(hi)}\" "
                     f"data-prob=\"{data_num(prob)}\" data-unit=\"{esc(e.get('unit', ''))}\"")
    if not rows:
        return ""
    return (f"<div id=\"{esc(ident)}\">" + table(["parameter", "mean", "sd", "interval", "unit", "how"], rows, attrs)
            + "</div>")


def film_html(film: Mapping | None, assumed: bool = False) -> str:
    """The film the estimate assumed: its constants with their uncertainties, DMI kind, derived lengths."""
    if not film:
        return "<p class=\"muted\">The report names no film.</p>"
    rows = []
    for key, v in film.items():
        if isinstance(v, Mapping) and "value" in v:
            sd = finite(v.get("sd")) or 0.0
            rows.append([esc(SYMBOLS.get(key, key)), ncell(v["value"]), esc(f"± {num(sd, 3)}" if sd else "exact"),
                         esc(unit_text(v.get("unit")))])
    head = (f"<p><b>{esc(film.get('name', 'unnamed film'))}</b> ({esc(film.get('source', ''))}); DMI "
            f"{esc(film.get('dmi', '?'))}; grains {num(film.get('grain_size_nm'), 3)} nm.</p>")
    if assumed:
        head = ("<p class=\"banner amber\"><b>ASSUMED, not given</b>: the estimate used the model's film. If yours "
                "differs, give it (--film FILE.toml).</p>") + head
    derived = kv_table(film.get("derived", {}))
    return (head + table(["constant", "value", "uncertainty", "unit"], rows)
            + (f"<p>Derived:</p>{derived}" if derived else ""))


def budget_html(budget: Mapping | None) -> str:
    """D's error budget: each source's share of D's variance, then the budget's other numbers."""
    if not budget:
        return ""
    shares = budget.get("shares", {})
    rows = [[esc(k), f"<td class=\"num\">{100 * (finite(v) or 0.0):.1f} %</td>"] for k, v in shares.items()]
    rest = {k: v for k, v in budget.items() if k != "shares"}
    return ((table(["source", "share of D's variance"], rows) if rows else "") + kv_table(rest))


def walls_caption(report: Mapping) -> str:
    """What the overlay shows, with the period and wall density the report measured."""
    s, p, st = report.get("support") or {}, report.get("period") or {}, report.get("statistics") or {}
    period = s.get("domains_period_nm", p.get("nm", st.get("period_nm") if isinstance(st, Mapping) else None))
    density = s.get("domains_wall_density_per_um", p.get("wall_density_per_um"))
    out = "The image in grey; red: the walls between its domains (features.geometry.domain_sign)"
    if finite(period):
        out += f"; domain period {num(period)} nm"
    if finite(density):
        out += f", wall density {num(density)} µm/µm²"
    return out + "."


def image_name(report: Mapping) -> str:
    img = report.get("image")
    return str(img.get("path", "an image")) if isinstance(img, Mapping) else "an image"


def header(kind: str, report: Mapping) -> str:
    img = report.get("image") if isinstance(report.get("image"), Mapping) else {}
    name = image_name(report)
    shape = "×".join(str(n) for n in img.get("shape", []))
    detail = f" ({shape} px, {num(img.get('pixel_size_nm'))} nm/px)" if shape else ""
    return f"<h1>domainfit {esc(kind)}: {esc(name)}</h1><p class=\"sub\">{esc(detail.strip(' ()'))}</p>"


def tail(report: Mapping, config: Mapping | None) -> list[str]:
    """The sections every page ends with: timing, command and configuration, version, files."""
    config = dict(config or report.get("config") or {})
    version = config.get("domainfit_version", __version__)
    timing = report.get("timing") or {}
    if not timing and finite(report.get("wall_time_s")):
        timing = {"wall_time_s": report["wall_time_s"]}
    files = report.get("files") or {}
    return [section("Timing [s]", kv_table(timing), "timing"),
            section("Command and configuration",
                    f"<p>command: <code>{esc(config.get('command', '—'))}</code>; domainfit version "
                    f"<span id=\"version\">{esc(version)}</span></p><pre>"
                    + esc(json.dumps(config, indent=1, default=str)) + "</pre>", "config"),
            section("Files", bullets([f"{k}: {v}" for k, v in files.items()]), "files")]


def render_estimate_html(report: Mapping, figures: Mapping[str, bytes], *, config: Mapping | None = None) -> str:
    """The page of one estimate (``estimate`` with or without ``--posterior``, the period law, the
    simulator path): reasons and warnings, the film, the image and its walls, the estimates with their
    intervals, the pair plot and the predictive check, the error budget, diagnostics, timing, the
    configuration and the version. ``figures``: PNG bytes by kind ("walls", "pair", "predictive")."""
    post = report.get("posterior") if isinstance(report.get("posterior"), Mapping) else None
    method = report.get("method", "posterior" if post else "cnn")
    parts = [header("estimate", report), f"<p>method: <b>{esc(method)}</b></p>",
             banner(report.get("reasons", []), report.get("warnings", []))]
    parts.append(section("Film assumed", film_html(report.get("film"), bool(report.get("film_assumed"))), "film"))
    parts.append(section("Image and the walls found", figure(figures.get("walls"), "the image with its domain walls",
                                                            walls_caption(report), "walls")
                         or "<p class=\"muted\">The image could not be read again for this page.</p>", "image"))
    if post:
        parts.append(section("Estimates: the posterior", estimates_table(post, "estimate", "estimates-table"), "posterior"))
        parts.append(section("The CNN's estimate (the posterior's seed)", estimates_table(report.get("parameters", {}), "cnn",
                                                                                      "cnn-table"), "cnn"))
    else:
        parts.append(section("Estimates", estimates_table(report.get("parameters", {}), "estimate", "estimates-table"),
                             "estimates"))
    parts.append(section("Pair plot", figure(figures.get("pair"), "posterior pair plot",
                                             "Posterior draws in user units; dashed: the interval's edges."), "pair"))
    ppc = report.get("posterior_predictive") or {}
    stats = report.get("statistics") if isinstance(report.get("statistics"), Mapping) else {}
    if ppc or "predictive_p" in stats or figures.get("predictive"):
        p = ppc.get("p_joint", stats.get("predictive_p"))
        names = ppc.get("statistics", stats.get("names", []))
        zs = ppc.get("z", stats.get("predictive_z", []))
        body = (f"<p>joint p = <span id=\"predictive-p\">{num(p, 3)}</span> (small p: the model does not reproduce the "
                "image's statistics)</p>" + table(["statistic", "z (observed − predicted) / sd"],
                                                  [[esc(n), ncell(z, 3)] for n, z in zip(names, zs)])
                + figure(figures.get("predictive"), "posterior predictive check", "Predictive spread (violins) and the "
                         "observation (red), standardised per statistic."))
        parts.append(section("Predictive check", body, "predictive"))
    parts.append(section("Error budget of D", budget_html(report.get("error_budget")), "budget"))
    diag = report.get("diagnostics") or {}
    if post:
        rows = [[esc(SYMBOLS.get(n, n)), ncell(e.get("r_hat")), ncell(e.get("ess_bulk"), 3), ncell(e.get("ess_tail"), 3)]
                for n, e in post.items() if isinstance(e, Mapping) and not e.get("fixed")]
        diag_html = table(["parameter", "R-hat", "bulk ESS", "tail ESS"], rows) + kv_table(diag)
    else:
        diag_html = kv_table(diag)
    parts.append(section("Diagnostics", diag_html, "diagnostics"))
    return page(f"domainfit estimate — {image_name(report)}", parts + tail(report, config))


def render_compare_html(table_: Mapping, figures: Mapping[str, bytes] | None = None, *,
                        config: Mapping | None = None) -> str:
    """The page of a comparison (``domainfit compare``): reasons and warnings, the verdict, the models'
    log-evidences with their errors, posterior probabilities and Bayes factors against the best, each
    film's estimates, the image and its walls, timing, configuration, version."""
    t, figures = table_, figures or {}
    best = t.get("best")
    rows, attrs = [], []
    for name, ev in (t.get("evidence") or {}).items():
        bf = (t.get("bayes_factors") or {}).get(name)
        prob = (t.get("probabilities") or {}).get(name)
        rows.append([esc(name) + (" (best)" if name == best else ""),
                     f"<td class=\"num\">{num(ev.get('log_evidence'))} ± {num(ev.get('error'), 2)}</td>", ncell(prob, 3),
                     "<td>—</td>" if bf is None else
                     f"<td class=\"num\">{num(bf.get('log_bayes_factor'), 3)} ± {num(bf.get('error'), 2)}</td>",
                     esc("" if bf is None else bf.get("interpretation", ""))])
        attrs.append(f"id=\"model-{esc(name)}\" data-model=\"{esc(name)}\" class=\"{'best' if name == best else ''}\" "
                     f"data-log-evidence=\"{data_num(ev.get('log_evidence'))}\" data-error=\"{data_num(ev.get('error'))}\" "
                     f"data-probability=\"{data_num(prob)}\" "
                     f"data-log-bf=\"{data_num(None if bf is None else bf.get('log_bayes_factor'))}\"")
    verdict = ""
    if "decided" in t:
        verdict = (f"<p id=\"verdict\"><b>{esc(best)}</b> explains the image best (log BF ≥ 3 beyond twice its error)</p>"
                   if t["decided"] else "<p id=\"verdict\"><b>Not distinguishable</b>: no model wins by log BF ≥ 3 "
                   "beyond twice its error.</p>")
    parts = [header("compare", t), banner(t.get("reasons", []), t.get("warnings", []), what="this comparison"),
             section("Models by their evidence", verdict + table(
                 ["model", "log Z ± error", "probability (equal prior odds)", f"log BF of {best or 'the best'} against it",
                  "reading"], rows, attrs), "models")]
    films = t.get("films") or {}
    if films:
        frows, fattrs = [], []
        for name, f in films.items():
            d, s = f.get("D", {}), f.get("sigma", {})
            frows.append([esc(name), ncell(d.get("mean")), ncell(d.get("sd"), 2), ncell(s.get("mean")),
                          ncell(s.get("sd"), 2), ncell(f.get("predictive_p"), 2),
                          esc("; ".join(f.get("reasons", [])) or "—")])
            fattrs.append(f"id=\"film-{esc(name)}\" class=\"{'' if f.get('trustworthy', True) else 'bad'}\" "
                          f"data-D-mean=\"{data_num(d.get('mean'))}\"")
        parts.append(section("Each film's estimate", table(["film", "D [mJ/m²]", "sd", "σ", "sd", "predictive p",
                                                            "reasons not to trust"], frows, fattrs)
                             + "".join(f"<h3>{esc(n)}</h3>" + film_html(f.get("film")) for n, f in films.items()), "films"))
    models = t.get("models") or {}
    if models:
        parts.append(section("Model definitions", kv_table(models), "definitions"))
    parts.append(section("Image and the walls found", figure(figures.get("walls"), "the image with its domain walls",
                                                            walls_caption(t), "walls"), "image"))
    return page(f"domainfit compare — {image_name(t)}", parts + tail(t, config))


def series_cell(value) -> str:
    """A cell of the series table: floats to 4 digits, booleans as yes/no, the rest as text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return ncell(value) if isinstance(value, float) else esc(value)


def render_series_html(series: Mapping, figures: Mapping[str, bytes] | None = None) -> str:
    """The page of a series of images (e.g. a wedge): ``series`` holds ``title``, ``intro`` (text),
    ``reasons`` and ``warnings`` (the series'), ``columns`` ([key, label] pairs), ``rows`` (dicts; a row
    whose ``trustworthy`` is false is marked, its ``reasons`` listed first), and optionally ``timing``,
    ``config`` (with ``command``) and ``files``; ``figures`` PNG bytes by name, shown in order."""
    rows = list(series.get("rows", []))
    columns = [tuple(c) for c in series.get("columns", [])]
    flagged = [f"{r.get('label', i)}: {r.get('reasons') or 'not trustworthy'}" for i, r in enumerate(rows)
               if r.get("trustworthy") is False]
    cells, attrs = [], []
    for i, r in enumerate(rows):
        cells.append([series_cell(r.get(k, "")) for k, _ in columns])
        attrs.append(f"id=\"row-{i}\" class=\"{'bad' if r.get('trustworthy') is False else ''}\" "
                     + " ".join(f"data-{esc(k.replace('_', '-').lower())}=\"{data_num(r[k])}\""
                                for k, _ in columns if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)))
    parts = [f"<h1>{esc(series.get('title', 'domainfit series'))}</h1>",
             banner(list(series.get("reasons", [])) + flagged, series.get("warnings", []), what="the flagged rows"),
             f"<p>{esc(series.get('intro', ''))}</p>" if series.get("intro") else "",
             section("Results, one row per image", table([label for _, label in columns], cells, attrs), "rows")]
    for name, png in (figures or {}).items():
        parts.append(section(f"Figure: {name}", figure(png, name, "", f"figure-{name}"), None))
    return page(series.get("title", "domainfit series"), parts + tail(series, series.get("config")))
