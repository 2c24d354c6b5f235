"""`coursetools`: the tooling that builds, runs and grades the course (not part of what a learner reads).

A notebook imports nothing from here: it records its key numbers with `helpers.receipts.record`, and
`helpers` never imports `coursetools`. Each module does one thing and imports only those above it:

- `notebooks`    the course notebooks as files: listing, selecting, the parameters cell, stripping outputs
- `colab`        the repository URL, each notebook's Colab badge and install line, links for released notebooks
- `runner`       executing notebooks with papermill, several at a time, HTML export, the receipts table
- `seeds`        seed sweeps and their summaries in results/seeds/
- `assignments`  the exercises as nbgrader cells: prepare, check, release and autograde (docs/instructors.md)
- `stamp`        pin the notebooks to a course revision: Colab install line, revision check, Drive, links
- `site`         the course as a website (`make site`): pages from data, Sphinx build, browser check
- `cli`          the command line, `python -m coursetools run|seeds|strip|assignments|grading|student|stamp`
"""
