"""helpers.sweeps: the package's copies of results/seeds/ and the figures that draw them."""
import csv
import math
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from helpers import receipts, sweeps

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = sorted((ROOT / "results" / "seeds").glob("*.csv"))


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_package_copy_is_the_committed_sweep(path):
    copy = ROOT / "helpers" / "sweep_tables" / path.name
    assert copy.exists() and copy.read_bytes() == path.read_bytes(), (
        f"helpers/sweep_tables/{path.name} differs from results/seeds/: re-run the sweep "
        "(python -m coursetools seeds) or copy the file")


def test_load_reads_the_csv_numbers():
    name = SWEEPS[0].stem
    notebook = name.rsplit("_", 1)[0]
    table = sweeps.load(notebook)
    rows = list(csv.DictReader(SWEEPS[0].open()))
    assert set(table) == {r["key"] for r in rows}
    row = rows[0]
    entry = table[row["key"]]
    assert entry["mean"] == float(row["mean"]) and entry["n"] == int(row["n"])
    values = [float(row[k]) for k in row if k.startswith("seed_") and row[k]]
    assert sorted(entry["values"].values()) == sorted(values)
    assert math.isclose(sum(values) / len(values), entry["mean"], rel_tol=1e-4, abs_tol=1e-6)


def test_missing_sweep_says_what_to_run():
    with pytest.raises(FileNotFoundError, match="coursetools seeds"):
        sweeps.load("99_nothing")


def test_plot_spread_marks_mean_range_and_run():
    import matplotlib.pyplot as plt
    notebook = SWEEPS[0].stem.rsplit("_", 1)[0]
    table = sweeps.load(notebook)
    key = next(k for k, v in table.items() if v["max"] > v["min"])
    fig, ax = plt.subplots()
    sweeps.plot_spread(ax, notebook, {key: "k"}, run={key: table[key]["values"][0]})
    bar = ax.patches[0]
    assert math.isclose(bar.get_height(), table[key]["mean"], rel_tol=1e-6)
    low, high = sorted(ax.lines[0].get_ydata())[:: len(ax.lines[0].get_ydata()) - 1]
    assert math.isclose(low, table[key]["min"], rel_tol=1e-6) and math.isclose(high, table[key]["max"], rel_tol=1e-6)
    plt.close(fig)


def test_sweep_url_is_absolute():
    url = sweeps.sweep_url("04_regularised_autoencoders")
    assert url.startswith("https://github.com/") and url.endswith("results/seeds/04_regularised_autoencoders_quick.md")


def test_record_flattens_dictionaries(tmp_path, monkeypatch):
    import json
    path = tmp_path / "r.json"
    monkeypatch.setenv(receipts.RECEIPT_ENV, str(path))
    monkeypatch.setattr(receipts, "_receipt", {})
    receipts.record("flip", {"smile": 0.25, "hat": {"on": 1, "off": 0.5}})
    assert json.loads(path.read_text())["flip.hat.off"] == 0.5
    assert {"flip.smile", "flip.hat.on"} <= set(json.loads(path.read_text()))
    assert "flip" not in json.loads(path.read_text())
