"""Pages made at build time (mkdocs-gen-files): the home page from README.md, the notebooks
(percent scripts in notebooks/, rendered as text and code cells), and the API reference."""

from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]


def percent_to_markdown(text: str) -> str:
    """A jupytext percent script as Markdown: ``# %% [markdown]`` cells as text, ``# %%`` cells as code."""
    lines = text.splitlines()
    if lines and lines[0].startswith("# ---"):  # jupytext header
        end = next(i for i in range(1, len(lines)) if lines[i].startswith("# ---"))
        lines = lines[end + 1:]
    cells, kind, buf = [], None, []

    def flush():
        body = "\n".join(buf).strip("\n")
        if kind == "markdown":
            cells.append("\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines()))
        elif kind == "code" and body.strip():
            cells.append(f"```python\n{body}\n```")

    for line in lines:
        if line.startswith("# %%"):
            flush()
            kind, buf = ("markdown" if "[markdown]" in line else "code"), []
        else:
            buf.append(line)
    flush()
    return "\n\n".join(cells) + "\n"


readme = (ROOT / "README.md").read_text()
readme = readme.replace("(docs/", "(").replace("`docs/", "`")
with mkdocs_gen_files.open("index.md", "w") as f:
    f.write(readme)

for nb in sorted(p for p in (ROOT / "notebooks").glob("*.py") if not p.name.startswith("_")):
    with mkdocs_gen_files.open(f"notebooks/{nb.stem}.md", "w") as f:
        f.write(f"*Notebook `notebooks/{nb.name}` (a jupytext percent script: open it in Jupyter, or run it "
                "with Python; the tests run it at a tiny size).*\n\n")
        f.write(percent_to_markdown(nb.read_text()))

REFERENCE = {
    "domainfit": ["domainfit.workflows.estimate", "domainfit.workflows.result", "domainfit.workflows.compare",
                  "domainfit.workflows.film", "domainfit.workflows.inspect"],
    "inference": ["domainfit.inference.priors", "domainfit.inference.fit", "domainfit.inference.evidence",
                  "domainfit.inference.likelihood", "domainfit.surrogate.emulator", "domainfit.surrogate.fitting",
                  "domainfit.surrogate.likelihood", "domainfit.surrogate.instrument_terms",
                  "domainfit.observations.measurements", "domainfit.observations.half_field",
                  "domainfit.observations.series"],
    "physics": ["domainfit.physics.material", "domainfit.physics.grid", "domainfit.physics.energy",
                "domainfit.physics.minimiser", "domainfit.physics.relax", "domainfit.physics.implicit",
                "domainfit.physics.simulate", "domainfit.physics.curve"],
    "imaging": ["domainfit.imaging", "domainfit.features.statistics", "domainfit.features.geometry",
                "domainfit.features.walls"],
    "nn_data": ["domainfit.nn.estimate", "domainfit.data.generate", "domainfit.data.instruments",
                "domainfit.data.splits"],
}
for page, modules in REFERENCE.items():
    with mkdocs_gen_files.open(f"reference/{page}.md", "w") as f:
        f.write(f"# API reference: {page.replace('_', ' and ')}\n\n")
        for m in modules:
            f.write(f"::: {m}\n\n")
