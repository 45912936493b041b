"""What ``domainfit.estimate`` returns: the report, the text a person reads, and the files it writes."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from ..errors import DomainfitError

_SYMBOL = {"D": "D", "Ms": "Ms", "sigma": "σ"}


@dataclasses.dataclass(frozen=True)
class PosteriorConfig:
    """How the posterior of ``estimate`` is sampled (defaults: 4 chains × 1000 draws, 90 % HDIs).

    Attributes:
        hdi_prob: probability of the highest-density intervals.
        chains, samples, warmup: NUTS chains, draws per chain after warm-up, warm-up steps per chain.
        predictive: posterior-predictive draws of the check (0 skips it).
        emulator: emulator .npz file, or several to choose from by the CNN estimate; default: the
            one(s) kept beside the model.
    """

    hdi_prob: float = 0.9
    chains: int = 4
    samples: int = 1000
    warmup: int = 500
    predictive: int = 200
    emulator: str | Path | tuple | None = None

    def check(self) -> None:
        """Refuse settings that cannot give a usable posterior, saying what to change."""
        from ..inference import check_budget

        if not 0 < self.hdi_prob < 1:
            raise DomainfitError(f"HDI probability {self.hdi_prob}: give a probability strictly between 0 and 1, e.g. 0.9")
        if self.predictive < 0:
            raise DomainfitError(f"{self.predictive} predictive draws: give 0 (skip the check) or more draws")
        if self.samples < 1 or self.chains < 1:
            raise DomainfitError(f"{self.chains} chains × {self.samples} samples: need at least one chain and one "
                                 "sample per chain (4 × 1000 recommended)")
        check_budget(self.chains, self.warmup, self.samples)
        files = [self.emulator] if isinstance(self.emulator, (str, Path)) else list(self.emulator or [])
        for f in files:
            if not Path(f).is_file():
                raise DomainfitError(f"emulator {f}: no such file")


class StageBar:
    """One line per stage on stderr ("[2/3] MAP + NUTS …"); the stages' own bars (tqdm) follow it."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.k, self.t0 = total, enabled, 0, time.perf_counter()

    def __call__(self, text: str) -> None:
        self.k += 1
        if self.enabled:
            print(f"[{self.k}/{self.total}] {text} (t = {time.perf_counter() - self.t0:.1f} s)", file=sys.stderr,
                  flush=True)


class Reported:
    """What every result of ``estimate`` shares: its JSON ``report`` with ``trustworthy``, ``reasons``
    (why not to trust it) and ``warnings``; the text is ``lines()`` then the warnings."""

    report: dict

    @property
    def trustworthy(self) -> bool:
        return not self.report["reasons"]

    @property
    def reasons(self) -> list[str]:
        return list(self.report["reasons"])

    @property
    def warnings(self) -> list[str]:
        """Notices that do not make the result untrustworthy (those are ``reasons``)."""
        return [w for w in self.report.get("warnings", []) if w not in self.report["reasons"]]

    def lines(self) -> list[str]:
        raise NotImplementedError

    def __str__(self) -> str:
        return "\n".join(self.lines() + [f"warning: {w}" for w in self.warnings])

    def to_json(self) -> str:
        from ..reports.files import plain

        return json.dumps(self.report, indent=2, default=plain)


@dataclasses.dataclass
class EstimateResult(Reported):
    """What ``estimate`` found: the report (user units), the CNN estimate, and with a posterior its draws.

    Attributes:
        report: the JSON report of ``domainfit estimate`` (``to_json``); ``report["trustworthy"]`` and
            ``report["reasons"]`` say whether to believe it and why not.
        config: what was run (image, model, emulator, budget, priors, seed): ``config.json``.
        cnn: the ``nn.Estimate`` (SI); image: the ``DomainImage`` read; model: the ``LoadedModel``.
            With several images: ``images`` and ``cnns`` hold each one's, ``image`` is the first and
            ``cnn`` their combination.
        posterior: the ``inference.PosteriorResult`` (SI draws, MAP, predictive check), or None.
        idata: the full ArviZ ``InferenceData`` in user units (``inference.idata``), or None.
    """

    report: dict
    config: dict
    cnn: object
    image: object
    model: object
    posterior: object | None = None
    idata: object | None = None
    images: list | None = None
    cnns: list | None = None

    def lines(self) -> list[str]:
        """The text report (what ``domainfit estimate`` prints on stdout), without the warnings."""
        return _text_lines(self)

    def save(self, out: str | Path) -> dict[str, Path]:
        """Write report.json and config.json into folder ``out`` (created), and with a posterior
        idata.nc (the full InferenceData), pair.png and predictive.png; each file atomically
        (``reports.files``, the one writer)."""
        from ..reports.files import write_posterior_files

        post = self.posterior
        return write_posterior_files(out, self.report, idata=self.idata, config=self.config,
                                     plot_idata=None if post is None else post.idata,
                                     check=None if post is None else post.check,
                                     hdi_prob=self.config.get("hdi_prob", 0.9))

    def plot(self, path: str | Path | None = None):
        """The posterior pair plot (marginals and 2D densities with the HDIs; CNN-only: the image).
        Saved to ``path`` when given; returns the matplotlib figure."""
        from ..reports import plots

        if self.posterior is None:
            return plots.image_figure(self.image.data, self.image.pixel_size, path=path,
                                      title=_one_line(self))
        return plots.pair_figure(self.posterior.idata, path=path, hdi_prob=self.config["hdi_prob"])


def _spread_text(result: EstimateResult) -> str:
    if result.model.instruments is None:
        return ""
    return {"pooled": "spreads pooled over the training instruments (name yours: --instrument)",
            "family": f"spreads calibrated for {result.cnn.family} images",
            "family and settings": f"spreads calibrated for {result.cnn.family} images at the given settings",
            }.get(result.cnn.spread_calibration, "")


def _one_line(result: EstimateResult) -> str:
    return ", ".join(f"{_SYMBOL.get(t, t)} = {e['mean']:.3g} ± {e['sd']:.2g}"
                     for t, e in result.report["parameters"].items() if not e.get("fixed"))


def _text_lines(result: EstimateResult) -> list[str]:
    report = result.report
    lines = []
    for t, e in report["parameters"].items():
        unit = "" if e["unit"] == "1" else " " + e["unit"].replace("^2", "²")
        if e.get("fixed"):
            lines.append(f"{_SYMBOL.get(t, t):>2} = {e['mean']:.4g}{unit} (not estimated: the model's training set "
                         "held it fixed)")
        else:
            lines.append(f"{_SYMBOL.get(t, t):>2} = {e['mean']:.4g} ± {e['sd']:.2g}{unit}")
    if "posterior" in report:
        from .posterior import posterior_lines

        lines = ["CNN estimate:", *lines, *posterior_lines(report)]
    chosen = report.get("parameter_set")
    if chosen:
        probs = ", ".join(f"{n} {p:.2g}" for n, p in chosen["probabilities"].items())
        verdict = "decided" if chosen["decided"] else "not distinguishable"
        lines = [f"parameter set: {chosen['best']} (posterior probabilities {probs}; {verdict})", *lines]
    film = report.get("film")
    if film:
        assumed = " — ASSUMED, not given: yours differs? --film FILE.toml" if report.get("film_assumed") else ""
        lines = [f"film: {film['name']}{assumed}", *lines]
    if report["reasons"]:
        lines = ["NOT TRUSTWORTHY — do not rely on these numbers:", *(f"  - {r}" for r in report["reasons"]), *lines]
    loaded = result.model
    views = f" × {report['views_per_tile']} symmetric views" if report["views_per_tile"] > 1 else ""
    how = _spread_text(result)
    lines.append(f"({report['tiles']} tiles{views} of {loaded.in_pixels}² px at {loaded.pixel_size * 1e9:.3g} nm, "
                 f"{how + ', ' if how else ''}{report['timing']['total_s']:.1f} s)")
    if "files" in report:
        lines.append(f"files in {Path(report['files']['json']).parent}: "
                     + ", ".join(Path(p).name for p in report["files"].values()))
    return lines
