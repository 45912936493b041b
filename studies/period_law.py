"""Study: does the period law of ``physics.stripes`` give the simulator's period, and D from a period?

Two measurements, both written to one JSON file and a two-panel figure:

(a) Equilibrium stripes. ``--films`` films (default 8) are drawn with ``numpy.random.default_rng(seed)``
    over Ms 0.6–1.6 MA/m, K_eff = Ku − μ0Ms²/2 0.1–0.6 MJ/m³, A 8–25 pJ/m, t 0.6–2 nm, D = u·D_c with
    u 0.5–0.95, DMI interfacial and bulk alternately; a film is redrawn unless its ``equilibrium_period``
    lies in 60 nm – 3 µm. For each film straight stripes (one up and one down domain, both walls of
    one chirality, Néel for interfacial and Bloch for bulk DMI, both chiralities tried and the lower
    energy kept) are relaxed in float64 (tol 1e-7) on periodic grids of one period × 8 rows, cells
    dx = min(1 nm, Δ/8), at 9 periods spanning 0.5–2× the model's period (extended by up to 2 points
    per side when the lowest energy lies at an end). The coarse scan's parabola in ln P through the 5
    points around the minimum is biased (the energy is not symmetric in ln P: the same fit on the
    model's own energies lands ~3.5 % long), so it only seeds the estimate: the model's energy plus a
    parabola through the simulator's small excess over it gives a first minimum, and a fine scan of
    5 periods within ±4 % of it (exact cell counts, the winning chirality, recentred while its lowest
    point is at an end) gives the simulator's period as its parabola's vertex. Each law
    (``dmi_from_period``, "stripes" and "sharp") is inverted at that period and at the coarse
    parabola's, and compared with the true D; the energies are compared with ``stripe_energy``.

(b) Mazes relaxed from random states, what an image shows. ``--mazes`` films (default 6) drawn the
    same way from ``default_rng([seed, 1])``, with σ 0.02–0.2 (grains of 20 nm) and a loose filter
    100 nm ≤ ``equilibrium_period`` ≤ 2 µm (the target is a maze period of 100–500 nm), are relaxed
    with ``domainfit.relax_film`` (float32, tol 1e-4, 20000 steps, key = seed + i) on a field of
    ≥ 1 µm (cells of min(4 nm, Δ/2, 0.9 l_ex), at most 512 of them); the maze period of
    ``features.geometry.pattern_geometry`` is inverted with both laws.

Run from the repository root (14 min on a 2-core CPU, no GPU: (a) ~4 s per relaxation, 23–35 of them,
60–90 s per film; (b) 20–100 s per maze):

    python -m studies.period_law --json docs/figures/period_law.json --plot docs/figures/period_law.png

``--films 2 --mazes 1`` is a quick check (~5 min).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import numpy as np

FILM_BOX = dict(Ms=(0.6e6, 1.6e6), K_eff=(0.1e6, 0.6e6), A=(8e-12, 25e-12), t=(0.6e-9, 2e-9), u=(0.5, 0.95))
STRIPE_WINDOW = (60e-9, 3e-6)  # equilibrium period of the films of (a)
MAZE_WINDOW = (100e-9, 2e-6)  # loose filter on the equilibrium period of the films of (b)
MAZE_TARGET = (100e-9, 500e-9)  # the maze periods aimed at
SIGMA_BOX = (0.02, 0.2)
N_PERIODS = 9
FINE_OFFSETS = (-0.04, -0.02, 0.0, 0.02, 0.04)  # ln P of the fine scan around the coarse estimate
FINE_ROUNDS = 3
SPAN = (0.5, 2.0)
STRIPE_ROWS = 8
STRIPE_TOL = 1e-7
STRIPE_MAX_STEPS = 100_000
MAZE_FIELD = 1e-6
MAZE_MAX_CELLS = 512
GRAIN_SIZE = 20e-9


def draw_film(rng, dmi: str, window: tuple[float, float], with_sigma: bool = False) -> dict:
    """One film of the box whose ``equilibrium_period`` lies in ``window`` (redrawn until it does)."""
    from domainfit.physics import stripes
    from domainfit.units import MU0

    for draws in range(1, 10_000):
        Ms = rng.uniform(*FILM_BOX["Ms"])
        k_eff = rng.uniform(*FILM_BOX["K_eff"])
        A = rng.uniform(*FILM_BOX["A"])
        t = rng.uniform(*FILM_BOX["t"])
        u = rng.uniform(*FILM_BOX["u"])
        sigma = rng.uniform(*SIGMA_BOX) if with_sigma else 0.0
        Ku = k_eff + 0.5 * MU0 * Ms**2
        D = u * stripes.critical_dmi(Ms, A, Ku)
        period = stripes.equilibrium_period(Ms, A, Ku, D, t, dmi)
        if math.isfinite(period) and window[0] <= period <= window[1]:
            film = dict(dmi=dmi, Ms=Ms, Ku=Ku, K_eff=k_eff, A=A, t=t, u=u, D=D, D_c=stripes.critical_dmi(Ms, A, Ku),
                        delta=math.sqrt(A / k_eff), l_ex=math.sqrt(2 * A / (MU0 * Ms**2)), P_model=period,
                        P_sharp=stripes.sharp_wall_period(Ms, A, Ku, D, t), draws=draws)
            if with_sigma:
                film["sigma"] = sigma
            return film
    raise RuntimeError("no film of the box in the window")


def _smooth_even(n: float) -> int:
    """The even 7-smooth integer nearest ``n`` (fast FFT lengths)."""
    best = None
    for c in range(max(8, int(n * 0.9)), int(n * 1.1) + 3):
        if c % 2:
            continue
        r = c
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        if r == 1 and (best is None or abs(c - n) < abs(best - n)):
            best = c
    return best if best is not None else 2 * round(n / 2)


def stripe_energy_sim(film: dict, period: float, exact: bool = False, chiralities=(1.0, -1.0)) -> dict:
    """Relax straight stripes of about ``period`` [m] (both chiralities) in float64; energy per area
    relative to the uniform state [J/m²] of the lower one, with the period actually used: the nearest
    even 7-smooth number of cells (fast FFTs), or with ``exact`` the nearest number."""
    import jax.numpy as jnp

    from domainfit import physics
    from domainfit.physics import stripes
    from domainfit.units import MU0

    Ms, A, Ku, D, t, dmi, delta = (film[k] for k in ("Ms", "A", "Ku", "D", "t", "dmi", "delta"))
    dx = min(1e-9, delta / 8)
    nx = max(8, round(period / dx)) if exact else _smooth_even(period / dx)
    L = nx * dx
    grid = physics.Grid(nx=nx, ny=STRIPE_ROWS, cell_size=dx, thickness=t)
    mat = physics.make_material(None, Ms=Ms, A=A, Ku=Ku, D=D, sigma=0.0, dmi=dmi, dtype=jnp.float64)
    x = (np.arange(nx) + 0.5) * dx
    u1 = np.clip((x - L / 4) / delta, -40, 40)
    u2 = np.clip((x - 3 * L / 4) / delta, -40, 40)
    theta = 2 * np.arctan(np.exp(u1)) + 2 * np.arctan(np.exp(u2))
    best = None
    start = time.perf_counter()
    for chirality in chiralities:
        inplane = chirality * np.sin(theta)
        zero = np.zeros_like(theta)
        comps = (inplane, zero, np.cos(theta)) if dmi == "interfacial" else (zero, inplane, np.cos(theta))
        m = jnp.asarray(np.broadcast_to(np.stack(comps)[:, None, :], (3, STRIPE_ROWS, nx)).copy(), dtype=jnp.float64)
        r = physics.relax(m, mat, grid, tol=STRIPE_TOL, max_steps=STRIPE_MAX_STEPS, implicit=False)
        e = float(r.energy) / (L * STRIPE_ROWS * dx) - (0.5 * MU0 * Ms**2 - Ku) * t
        row = dict(chirality=chirality, energy=e, steps=int(r.steps), converged=bool(r.converged),
                   min_mz=float(jnp.min(r.m[2])))
        if best is None or e < best["energy"]:
            best = row
    kdt = 0.5 * MU0 * Ms**2 * t
    model = stripes.stripe_energy(L, Ms, A, Ku, D, t, dmi)
    return dict(period=L, nx=nx, dx=dx, energy=best["energy"], model_energy=model,
                diff_over_Kdt=(best["energy"] - model) / kdt, chirality=best["chirality"], steps=best["steps"],
                converged=best["converged"], min_mz=best["min_mz"], wall_s=round(time.perf_counter() - start, 2))


def _vertex(points: list[dict], half: int) -> tuple[float, list[int]]:
    """ln P of the parabola vertex through the points around the minimum (``half`` each side)."""
    lp = np.log([p["period"] for p in points])
    e = np.array([p["energy"] for p in points])
    i = int(np.argmin(e))
    lo, hi = max(0, i - half), min(len(points), i + half + 1)
    if hi - lo < 2 * half + 1:  # at an end: take the 2·half+1 nearest the end
        lo, hi = (0, min(len(points), 2 * half + 1)) if lo == 0 else (max(0, len(points) - 2 * half - 1), len(points))
    a, b, _ = np.polyfit(lp[lo:hi], e[lo:hi], 2)
    v = -b / (2 * a) if a > 0 else lp[i]
    return float(v), list(range(lo, hi))


def _residual_vertex(points: list[dict], film: dict) -> float:
    """ln P of the minimum of ``stripe_energy`` plus a parabola in ln P through the simulator's excess
    over it at the 5 points around the simulator's minimum: free of the bias of a parabola through an
    energy curve that is not symmetric in ln P (the model's shape is exact, only the small smooth
    excess is interpolated)."""
    from scipy import optimize

    from domainfit.physics import stripes

    lp = np.log([p["period"] for p in points])
    excess = np.array([p["energy"] - p["model_energy"] for p in points])
    _, used = _vertex(points, 2)
    coef = np.polyfit(lp[used], excess[used], 2)
    args = (film["Ms"], film["A"], film["Ku"], film["D"], film["t"], film["dmi"])
    f = lambda x: (stripes.stripe_energy(math.exp(x), *args) + np.polyval(coef, x)) / (film["Ms"] ** 2 * film["t"])
    res = optimize.minimize_scalar(f, bounds=(lp[used[0]], lp[used[-1]]), method="bounded", options={"xatol": 1e-6})
    return float(res.x)


def _invert(period: float, film: dict) -> dict:
    from domainfit.errors import DomainfitError
    from domainfit.physics import stripes

    args = (film["Ms"], film["A"], film["Ku"], film["t"], film["dmi"])
    out = {}
    for law in ("stripes", "sharp"):
        try:
            d = stripes.dmi_from_period(period, *args, law=law)
            out[law] = dict(D=d, error_mJ=(d - film["D"]) * 1e3, failed=None)
        except DomainfitError as err:
            out[law] = dict(D=None, error_mJ=None, failed=str(err))
    return out


def measure_stripes(film: dict, log) -> dict:
    """(a) for one film: the scan, the simulator's period and D from it by each law."""

    step = math.log(SPAN[1] / SPAN[0]) / (N_PERIODS - 1)
    lps = [math.log(film["P_model"] * SPAN[0]) + j * step for j in range(N_PERIODS)]
    points = []
    for lp in lps:
        points.append(stripe_energy_sim(film, math.exp(lp)))
        p = points[-1]
        log(f"    P = {p['period'] * 1e9:8.1f} nm ({p['nx']} cells): e = {p['energy']:+.6e} J/m², "
            f"sim − model = {p['diff_over_Kdt']:+.1e} K_d t, {p['steps']} steps, {p['wall_s']:.1f} s")
    for _ in range(2):  # the minimum at an end: extend the scan
        i = int(np.argmin([p["energy"] for p in points]))
        if 0 < i < len(points) - 1:
            break
        lp = math.log(points[i]["period"]) + (step if i else -step)
        new = stripe_energy_sim(film, math.exp(lp))
        log(f"    extended: P = {new['period'] * 1e9:8.1f} nm: e = {new['energy']:+.6e} J/m²")
        points = points + [new] if i else [new] + points
    v5, used5 = _vertex(points, 2)
    v3, _ = _vertex(points, 1)
    i = int(np.argmin([p["energy"] for p in points]))
    model_points = [dict(period=p["period"], energy=p["model_energy"]) for p in points]
    bias5 = math.exp(_vertex(model_points, 2)[0]) / film["P_model"]  # the same fit on the model's energies
    bias3 = math.exp(_vertex(model_points, 1)[0]) / film["P_model"]
    v_res = _residual_vertex(points, film)
    # fine scan: 5 periods within ±4 % of the estimate (exact cell counts, the chirality that won),
    # where a parabola in ln P has no bias worth counting
    chirality = points[i]["chirality"]
    dx = min(1e-9, film["delta"] / 8)
    cache: dict[int, dict] = {}
    centre = v_res
    for _ in range(FINE_ROUNDS):  # recentre on the lowest point while it lies at an end of the fine scan
        for h in FINE_OFFSETS:
            nx = max(8, round(math.exp(centre + h) / dx))
            if nx not in cache:
                p = cache[nx] = stripe_energy_sim(film, nx * dx, exact=True, chiralities=(chirality,))
                log(f"    fine: P = {p['period'] * 1e9:8.2f} nm ({p['nx']} cells): e = {p['energy']:+.9e} J/m², "
                    f"sim − model = {p['diff_over_Kdt']:+.1e} K_d t")
        fine = [cache[k] for k in sorted(cache)]
        j = int(np.argmin([p["energy"] for p in fine]))
        if 0 < j < len(fine) - 1:
            break
        centre = math.log(fine[j]["period"])
    _, used = _vertex(fine, 2)
    fine_fit = [fine[k] for k in used]
    v_fine, _ = _vertex(fine_fit, 2)
    fine_model = [dict(period=p["period"], energy=p["model_energy"]) for p in fine_fit]
    p_sim = math.exp(v_fine)
    return dict(film, P_sim=p_sim, P_sim_over_model=p_sim / film["P_model"], P_sim_residual=math.exp(v_res),
                P_sim_parabola5=math.exp(v5), P_sim_parabola3=math.exp(v3),
                model_parabola5_over_P_model=bias5, model_parabola3_over_P_model=bias3,
                model_fine_parabola_over_P_model=math.exp(_vertex(fine_model, 2)[0]) / film["P_model"],
                min_at_end=i in (0, len(points) - 1), fine_min_at_end=j in (0, len(fine) - 1), fit_points=used5,
                fine_fit_nx=[p["nx"] for p in fine_fit],
                max_abs_diff_over_Kdt=max(abs(p["diff_over_Kdt"]) for p in points),
                all_converged=all(p["converged"] for p in points + fine), scan=points, fine_scan=fine,
                inverted=_invert(p_sim, film), inverted_parabola5=_invert(math.exp(v5), film))


def measure_maze(film: dict, key: int, log) -> dict:
    """(b) for one film: relax a random state with grains and invert its period."""
    import domainfit as df
    from domainfit.features.geometry import pattern_geometry

    cell = min(4e-9, 0.5 * film["delta"], 0.9 * film["l_ex"])
    cells = min(MAZE_MAX_CELLS, 32 * math.ceil(MAZE_FIELD / cell / 32))
    r = df.relax_film(None, Ms=film["Ms"], A=film["A"], Ku=film["Ku"], D=film["D"], sigma=film["sigma"],
                      dmi=film["dmi"], grain_size=GRAIN_SIZE, cells=cells, cell_size=cell, thickness=film["t"],
                      key=key)
    mz = np.asarray(r.m[2], dtype=np.float64)
    geometry = pattern_geometry(mz, cell)
    period = geometry["period"]
    out = _invert(period, film)
    s = r.summary
    return dict(film, key=key, cell_size=cell, cells=cells, field_m=cells * cell, field_below_1um=cells * cell < MAZE_FIELD,
                P_maze=period, wall_density_per_m=geometry["wall_density"], P_maze_over_model=period / film["P_model"],
                in_target=MAZE_TARGET[0] <= period <= MAZE_TARGET[1], converged=s["converged"], steps=s["steps"],
                max_torque=s["max_torque"], mean_mz=s["mean_mz"], wall_s=s["wall_time_s"], warnings=s["warnings"],
                inverted=out, mz=mz.astype(np.float16))


def rmse(rows: list[dict], law: str, key: str = "inverted") -> dict:
    e = [r[key][law]["error_mJ"] for r in rows if r[key][law]["error_mJ"] is not None]
    return dict(rmse_mJ=float(np.sqrt(np.mean(np.square(e)))) if e else None,
                mean_mJ=float(np.mean(e)) if e else None, n=len(e), failed=len(rows) - len(e))


def figure(stripes_rows: list[dict], mazes: list[dict], summary: dict, path: str) -> None:
    from domainfit._files import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
    panels = ((axes[0], stripes_rows, "a", "equilibrium stripes: D from the simulator's period"),
              (axes[1], mazes, "b", "mazes relaxed from random states: D from their period"))
    for ax, rows, part, title in panels:
        for law, marker, colour in (("stripes", "o", "C0"), ("sharp", "^", "C3")):
            for kind, fill in (("interfacial", colour), ("bulk", "none")):
                pts = [(r["D"] * 1e3, r["inverted"][law]["error_mJ"]) for r in rows
                       if r["dmi"] == kind and r["inverted"][law]["error_mJ"] is not None]
                if pts:
                    x, y = zip(*pts)
                    ax.scatter(x, y, marker=marker, facecolors=fill, edgecolors=colour, s=40,
                               label=f"{law} law, {kind} DMI")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel("true D [mJ/m²]")
        ax.set_ylabel("D(law) − D [mJ/m²]")
        rms = ", ".join(f"{law} {summary[part][law]['rmse_mJ']:.3f}" for law in ("stripes", "sharp")
                        if summary[part][law]["rmse_mJ"] is not None)
        ax.set_title(f"({part}) {title}\n{len(rows)} films; RMSE [mJ/m²]: {rms}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--films", type=int, default=8, help="films of (a), equilibrium stripes (default 8)")
    ap.add_argument("--mazes", type=int, default=6, help="films of (b), mazes from random states (default 6)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the films' draws (default 0)")
    ap.add_argument("--json", required=True, help="where to write the results")
    ap.add_argument("--plot", help="where to write the two-panel figure (PNG)")
    ap.add_argument("--mz", help="optional .npz of the relaxed mazes' m_z (float16)")
    args = ap.parse_args(argv)

    import jax

    from domainfit._files import atomic_write

    start = time.perf_counter()
    log = lambda s: print(s, flush=True)
    meta = dict(command="python -m studies.period_law " + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
                films=args.films, mazes=args.mazes, seed=args.seed, machine=f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores",
                jax=jax.__version__, film_box=FILM_BOX, stripe_window_m=STRIPE_WINDOW, maze_window_m=MAZE_WINDOW,
                maze_target_m=MAZE_TARGET, sigma_box=SIGMA_BOX, periods_per_scan=N_PERIODS, span=SPAN,
                stripe_rows=STRIPE_ROWS, stripe_tol=STRIPE_TOL, maze_tol=1e-4, maze_dtype="float32",
                grain_size_m=GRAIN_SIZE)
    import hashlib
    import pathlib

    from domainfit.physics import stripes as stripes_module

    meta["stripes_py_sha256"] = hashlib.sha256(pathlib.Path(stripes_module.__file__).read_bytes()).hexdigest()[:16]
    result = dict(meta=meta, stripes=[], mazes=[], summary={})
    np.seterr(over="ignore")  # cosh overflow far beyond a wall's width is 1/inf = 0 in the law

    def write():
        result["summary"] = {"a": {law: rmse(result["stripes"], law) for law in ("stripes", "sharp")},
                             "a_at_coarse_parabola5": {law: rmse(result["stripes"], law, "inverted_parabola5")
                                                       for law in ("stripes", "sharp")},
                             "b": {law: rmse(result["mazes"], law) for law in ("stripes", "sharp")}}
        result["meta"]["wall_time_s"] = round(time.perf_counter() - start, 1)
        clean = dict(result, mazes=[{k: v for k, v in m.items() if k != "mz"} for m in result["mazes"]])
        atomic_write(args.json, json.dumps(clean, indent=1))

    rng = np.random.default_rng(args.seed)
    with jax.enable_x64(True):
        for i in range(args.films):
            film = draw_film(rng, ("interfacial", "bulk")[i % 2], STRIPE_WINDOW)
            log(f"(a) film {i}: {film['dmi']}, Ms {film['Ms'] / 1e6:.3f} MA/m, K_eff {film['K_eff'] / 1e6:.3f} MJ/m³, "
                f"A {film['A'] * 1e12:.1f} pJ/m, t {film['t'] * 1e9:.2f} nm, D {film['D'] * 1e3:.3f} mJ/m² "
                f"(u {film['u']:.2f}), Δ {film['delta'] * 1e9:.2f} nm, P_model {film['P_model'] * 1e9:.1f} nm")
            t0 = time.perf_counter()
            row = measure_stripes(film, log)
            row["wall_s"] = round(time.perf_counter() - t0, 1)
            result["stripes"].append(row)
            inv = row["inverted"]
            log(f"  P_sim {row['P_sim'] * 1e9:.1f} nm (model {row['P_model'] * 1e9:.1f}, sharp {row['P_sharp'] * 1e9:.1f}); "
                f"D error stripes {inv['stripes']['error_mJ']}, sharp {inv['sharp']['error_mJ']} mJ/m²; {row['wall_s']} s")
            write()

    rng = np.random.default_rng([args.seed, 1])
    for i in range(args.mazes):
        film = draw_film(rng, ("interfacial", "bulk")[i % 2], MAZE_WINDOW, with_sigma=True)
        log(f"(b) film {i}: {film['dmi']}, Ms {film['Ms'] / 1e6:.3f} MA/m, K_eff {film['K_eff'] / 1e6:.3f} MJ/m³, "
            f"A {film['A'] * 1e12:.1f} pJ/m, t {film['t'] * 1e9:.2f} nm, D {film['D'] * 1e3:.3f} mJ/m², "
            f"σ {film['sigma']:.3f}, P_model {film['P_model'] * 1e9:.1f} nm")
        row = measure_maze(film, args.seed + i, log)
        result["mazes"].append(row)
        inv = row["inverted"]
        log(f"  {row['cells']} cells of {row['cell_size'] * 1e9:.2f} nm: P_maze {row['P_maze'] * 1e9:.1f} nm "
            f"({row['P_maze_over_model']:.2f} × model), converged {row['converged']} after {row['steps']} steps, "
            f"{row['wall_s']:.0f} s; D error stripes {inv['stripes']['error_mJ']}, sharp {inv['sharp']['error_mJ']} mJ/m²")
        write()
        if args.mz:
            np.savez_compressed(args.mz, **{f"mz{j}": m["mz"] for j, m in enumerate(result["mazes"])})

    write()
    if args.plot:
        figure(result["stripes"], result["mazes"], result["summary"], args.plot)
    log(json.dumps(result["summary"], indent=1))
    log(f"wall time {result['meta']['wall_time_s']:.0f} s")
    return result


if __name__ == "__main__":
    main()
