"""helpers.leaderboard: the registry holds every model of notebooks 00-06, each trains through the harness
and the one evaluation, metrics apply where they should, and the table's bookkeeping (slugs, first places,
sweep counts) is right. Tiny sizes: a few steps on 8x8 images."""
import math

import numpy as np
import pytest
import torch

from helpers import leaderboard
from helpers.leaderboard import REGISTRY, Budget, Reference
from helpers.leaderboard.table import first_counts, first_flags, from_sweep, slug, winners

COURSE = ["VAE", "β-VAE", "IWAE", "GECO-VAE", "VHP + REWO", "VampPrior", "Factorial mixture prior", "AE + GMM",
          "RAE + GMM", "WAE-MMD", "AAE", "VAE + IAF", "2-stage VAE", "MaskAAE", "FlexAE", "Local VAE"]


def test_registry_holds_every_model_of_the_course():
    assert set(COURSE) <= set(REGISTRY)
    assert {REGISTRY[n].notebook for n in COURSE} == {"00", "01", "02", "04", "05", "06"}
    likelihood = {n for n in COURSE if REGISTRY[n].likelihood}
    assert likelihood == {"VAE", "β-VAE", "IWAE", "GECO-VAE", "VHP + REWO", "VampPrior", "VAE + IAF"}


class Features:
    """A fixed feature map for the tests: flattened pixels through a fixed random projection."""

    def __init__(self, dim):
        self.weight = torch.randn(dim, 6, generator=torch.Generator().manual_seed(0))

    def __call__(self, images):
        return (torch.as_tensor(images).flatten(1) @ self.weight).numpy()


@pytest.fixture(scope="module")
def setting():
    g = torch.Generator().manual_seed(0)
    factors = torch.stack([torch.arange(96) % 3, (torch.arange(96) // 3) % 4], 1)
    images = (torch.rand(96, 1, 8, 8, generator=g) * 0.3 + factors[:, :1, None, None] * 0.2).clamp(0, 1)
    ref = Reference.build(images[:48], factors[:48].numpy(), Features(64), n_nll=8, nll_samples=4, dci_trees=2,
                          prd_clusters=4)
    budget = Budget(steps=3, batch_size=16, lr=1e-3, hidden=(16,), seed=0,
                    options={"kappa2": 40.0, "pseudo_inputs": 4, "pseudo_init": images[:4], "n_train": 96,
                             "mixture_blocks": (2, 2), "gmm_components": 2, "local_k": 2, "prior_hidden": (8,),
                             "prior_k": 2, "nll_inner_k": 2, "generator_hidden": (8,)})
    return images, ref, budget


@pytest.mark.parametrize("name", COURSE)
def test_every_model_trains_and_is_evaluated_by_the_harness(name, setting):
    images, ref, budget = setting
    result = leaderboard.run([name], images, ref, budget, latent_dim=4)[name]
    columns = {"rec_mse", "fd", "precision", "recall", "prd_f8", "prd_f1_8", "active_dims", "dci_d", "dci_c",
               "dci_i", "mig", "sap", "seconds_per_1k", "final_loss"}
    assert columns <= set(result)
    assert ("nll" in result) == REGISTRY[name].likelihood        # defined ones only, never a stand-in 0 or NaN
    assert all(math.isfinite(v) for v in result.values())
    assert 0 <= result["precision"] <= 1 and 0 <= result["recall"] <= 1 and 0 <= result["active_dims"] <= 4
    ledger = leaderboard.evaluation.LEDGER[name]
    assert all(ledger[k] == result[k] for k in ledger if k != "model_class")


def test_same_seed_same_numbers_and_another_seed_differs(setting):
    images, ref, budget = setting
    a = leaderboard.run(["VAE"], images, ref, budget, 4)["VAE"]
    b = leaderboard.run(["VAE"], images, ref, budget, 4)["VAE"]
    other = Budget(**{**budget.__dict__, "seed": 1})
    c = leaderboard.run(["VAE"], images, ref, other, 4)["VAE"]
    assert a["rec_mse"] == b["rec_mse"] and a["fd"] == b["fd"]
    assert a["rec_mse"] != c["rec_mse"]


def test_a_registered_model_joins_the_harness(setting):
    images, ref, budget = setting
    from helpers.vae import VAE

    leaderboard.register("test-vae", lambda shape, latent, b: VAE.for_data(shape, latent, hidden=b.hidden),
                         likelihood=True)
    try:
        result = leaderboard.run(["test-vae"], images, ref, budget, 4)["test-vae"]
        assert "nll" in result and leaderboard.evaluation.LEDGER["test-vae"]["model_class"] == "VAE"
    finally:
        del REGISTRY["test-vae"]


def test_without_factors_no_disentanglement_columns(setting):
    images, ref, budget = setting
    bare = Reference.build(images[:48], None, Features(64), n_nll=8, nll_samples=4)
    result = leaderboard.run(["AE + GMM"], images, bare, budget, 4)["AE + GMM"]
    assert "fd" in result and not {"dci_d", "mig", "sap"} & set(result)


def test_slugs_winners_and_first_flags():
    assert slug("VHP + REWO") == "vhp_rewo" and slug("β-VAE") == "beta_vae" and slug("2-stage VAE") == "2_stage_vae"
    results = {"A": {"fd": 3.0, "mig": 0.2, "nll": 90.0}, "B": {"fd": 1.0, "mig": 0.2}, "C": {"fd": 2.0, "mig": 0.1}}
    assert winners(results, "fd") == ["B"]                       # lower is better
    assert winners(results, "mig") == ["A", "B"]                 # ties all count
    assert winners(results, "nll") == ["A"]                      # only the rows that have it
    assert winners(results, "active_dims") == []                 # not a ranking
    flags = first_flags(results, ["fd", "nll"])
    assert flags == {"fd.a": 0, "fd.b": 1, "fd.c": 0, "nll.a": 1}


def test_sweep_tables_read_the_first_flags():
    sweep = {"first.fd.a": {"n": 5, "mean": 0.6, "sd": 0.5, "min": 0, "max": 1, "values": {}},
             "first.fd.b": {"n": 5, "mean": 0.4, "sd": 0.5, "min": 0, "max": 1, "values": {}},
             "a.fd": {"n": 5, "mean": 2.0, "sd": 0.1, "min": 1.9, "max": 2.1, "values": {}}}
    counts = first_counts(sweep, ["A", "B"], ["fd"])
    assert counts.loc["A", "fd"] == 3 and counts.loc["B", "fd"] == 2
    table = from_sweep(sweep, ["A", "B"], ["fd"])
    assert table.loc["A", "fd"].startswith("2 ± ") and table.loc["B", "fd"] == "—"
    assert np.all(counts.sum() == 5)
