"""Tests of helpers.data's embedded data sets and its public interface."""

import numpy as np
import pytest
import torch
from matplotlib.colors import rgb_to_hsv

from helpers import data
from helpers.data import factors as grid
from helpers.data import manifold, pendulum, portraits, shapes, sprites, two_domain

IMAGE_SETS = {  # name -> (options, item shape)
    "digits": ({}, (1, 8, 8)),
    "sprites": ({"n": 300}, (1, 64, 64)),
    "shapes": ({"n": 300}, (3, 64, 64)),
    "pendulum": ({"n": 300}, (1, 16, 16)),
    "portraits": ({"n": 300}, (3, 32, 32)),
    "two-domain": ({"n": 300}, (3, 64, 64)),
}
VECTOR_SETS = {
    "moons": ({"n": 300}, (2,)),
    "circles": ({"n": 300}, (2,)),
    "swiss-roll": ({"n": 300}, (2,)),
    "manifold": ({"n": 300}, (64,)),
}
FACTOR_MODULES = {"sprites": sprites, "shapes": shapes, "pendulum": pendulum, "portraits": portraits,
                  "manifold": manifold, "two-domain": two_domain}


# ---------------------------------------------------------------------------------------------
# interface


def test_available_lists_every_set_with_kind_shape_and_factors():
    infos = {i.name: i for i in data.available()}
    for name in list(IMAGE_SETS) + list(VECTOR_SETS):
        assert infos[name].kind == "embedded"
    for name in ("mnist", "fashion-mnist", "binarized-mnist", "omniglot", "dsprites", "shapes3d", "celeba",
                 "cifar10", "smallnorb", "cars3d"):
        assert infos[name].kind == "real"
    assert infos["sprites"].factors == ("shape", "scale", "orientation", "posX", "posY")
    assert infos["moons"].shape == (2,) and infos["shapes"].shape == (3, 64, 64)
    assert [i.name for i in data.available("real")] == ["mnist", "fashion-mnist", "binarized-mnist", "omniglot",
                                                         "dsprites", "shapes3d", "celeba", "cifar10",
                                                         "smallnorb", "cars3d"]


def test_unknown_name_lists_valid_names_and_unknown_option_lists_options():
    with pytest.raises(ValueError) as error:
        data.load("mnsit")
    message = str(error.value)
    assert "did you mean 'mnist'" in message.lower()
    for name in ("digits", "sprites", "two-domain", "celeba"):
        assert name in message
    with pytest.raises(TypeError, match="valid options: split, n, size, seed"):
        data.load("sprites", sizee=32)
    with pytest.raises(ValueError, match="split"):
        data.load("sprites", split="validation", n=4)


@pytest.mark.parametrize("name", list(IMAGE_SETS) + list(VECTOR_SETS))
def test_shape_dtype_range_and_determinism(name):
    options, item = {**IMAGE_SETS, **VECTOR_SETS}[name]
    a = data.load(name, **options)
    b = data.load(name, **options)
    assert a.shape == item and a.images.dtype == torch.float32
    assert torch.equal(a.images, b.images), "same options and seed must give identical bytes"
    if name in IMAGE_SETS or name == "manifold":
        assert float(a.images.min()) >= 0.0 and float(a.images.max()) <= 1.0
        assert float(a.images.std()) > 0.05, "images should not be blank"
    if a.factors is not None:
        assert torch.equal(a.factors, b.factors)
        assert a.factors.shape == (len(a), len(a.factor_names)) and len(a.factor_sizes) == len(a.factor_names)
    other_seed = data.load(name, **options, **({} if name == "digits" else {"seed": 1}))
    if name != "digits":
        assert not torch.equal(a.images, other_seed.images)


@pytest.mark.parametrize("name", ["sprites", "shapes", "two-domain"])
def test_grid_sets_train_and_test_share_no_factor_combination(name):
    train = data.load(name, "train", n=3000, size=32)
    test = data.load(name, "test", n=400, size=32)
    train_rows = {tuple(r) for r in train.factors.tolist()}
    test_rows = {tuple(r) for r in test.factors.tolist()}
    assert not train_rows & test_rows


def test_continuous_sets_train_and_test_differ():
    for name in ("pendulum", "portraits", "manifold"):
        train, test = data.load(name, "train", n=200), data.load(name, "test", n=200)
        assert not set(map(tuple, train.factors.tolist())) & set(map(tuple, test.factors.tolist()))


def test_split_hash_is_deterministic_and_about_ten_percent():
    index = np.arange(200_000)
    mask = grid.in_test_split(index)
    assert np.array_equal(mask, grid.in_test_split(index))
    assert abs(mask.mean() - grid.TEST_FRACTION) < 0.005


def test_dataset_items_and_loader():
    ds = data.load("sprites", n=10)
    x, target = ds[3]
    assert x.shape == (1, 64, 64) and torch.equal(target, ds.factors[3])
    x, y = next(iter(torch.utils.data.DataLoader(data.load("digits"), batch_size=8)))
    assert x.shape == (8, 1, 8, 8) and y.dtype == torch.long
    stored = data.ArrayDataset((ds.images * 255).to(torch.uint8), name="u8")
    x, empty = stored[0]
    assert x.dtype == torch.float32 and torch.allclose(x, ds.images[0]) and empty.numel() == 0


@pytest.mark.parametrize("name", list(FACTOR_MODULES))
def test_load_is_render_of_sample_factors(name):
    ds = data.load(name, n=20, seed=3)
    assert torch.equal(ds.render(ds.factors), ds.images)
    drawn = data.sample_factors(name, 5, seed=4)
    assert torch.equal(data.render(name, drawn), ds.render(drawn))


PROCEDURAL = [  # name, options, sha256 (first 16 hex digits) of the factors, attributes and domain drawn
    ("sprites", {"n": 40, "size": 32}, "15e17ac5d637c56b"),
    ("shapes", {"n": 12, "split": "test", "seed": 2}, "0e4d8311d69b57f1"),
    ("portraits", {"n": 30}, "6882cb029ad49bb6"),
    ("pendulum", {"n": 10, "size": 32, "split": "test", "seed": 5}, "08743a9524ae28d7"),
    ("two-domain", {"n": 12, "split": "test", "seed": 4, "toy_fraction": 0.3}, "99c7386476c6488a"),
]


def _digest(*tensors) -> str:
    import hashlib
    sha = hashlib.sha256()
    for tensor in tensors:
        array = np.ascontiguousarray(tensor.numpy())
        sha.update(f"{array.dtype}{array.shape}".encode())
        sha.update(array.tobytes())
    return sha.hexdigest()[:16]


@pytest.mark.parametrize("name, options, expected", PROCEDURAL, ids=[p[0] for p in PROCEDURAL])
def test_procedural_load_keeps_its_data_bit_for_bit(name, options, expected):
    """The one procedural `load` (data.dataset.load_procedural) gives what each set's own `load` gave: the
    same factors (fixed checksums, taken before the bodies were merged; numpy's generators are the same on
    every machine) and images that are the set's `render` of them at the size asked for."""
    ds = data.load(name, **options)
    assert _digest(*[t for t in (ds.factors, ds.attributes, ds.domain) if t is not None]) == expected
    module = FACTOR_MODULES[name]
    size = options.get("size", {"pendulum": 16, "portraits": 32}.get(name, 64))
    assert torch.equal(ds.images, module.render(ds.factors, size)) and ds.info["size"] == size


# ---------------------------------------------------------------------------------------------
# every factor changes the image


def _changes_each_factor(module, base, alternatives, **options):
    base = torch.as_tensor(base)
    reference = module.render(base[None], **options)
    for k, value in enumerate(alternatives):
        changed = base.clone()
        changed[k] = value
        difference = (module.render(changed[None], **options) - reference).abs()
        assert difference.sum() > 1.0, f"{module.__name__}: factor {k} did not change the image"


def test_every_sprites_factor_changes_the_image():
    # a heart (no rotational symmetry) at mid scale, mid position
    _changes_each_factor(sprites, [2, 3, 0, 15, 15], [0, 5, 7, 25, 5])
    _changes_each_factor(sprites, [2, 3, 0, 15, 15], [1, 0, 13, 2, 30], size=32)


def test_every_shapes_factor_changes_the_image():
    _changes_each_factor(shapes, [1, 4, 7, 3, 0, 7], [6, 9, 2, 7, 2, 0])
    _changes_each_factor(shapes, [1, 4, 7, 3, 0, 7], [6, 9, 2, 7, 2, 0], size=32)


def test_coarse_shapes_grid_factor_ranges_and_splits():
    train = data.load("shapes", "train", n=600, size=32, grid="coarse")
    test = data.load("shapes", "test", n=200, size=32, grid="coarse")
    assert train.factor_sizes == (10, 10, 10, 2, 2, 3) and train.images.shape == (600, 3, 32, 32)
    assert train.factor_names == shapes.FACTOR_NAMES
    for f in (train.factors, test.factors):
        assert (f.min(0).values == 0).all()
        assert (f.max(0).values == torch.tensor(train.factor_sizes) - 1).all()    # every value of every factor drawn
    grid_index = lambda f: set(grid.flat_index(f.numpy(), train.factor_sizes).tolist())  # noqa: E731
    assert not grid_index(train.factors) & grid_index(test.factors)               # disjoint combinations
    values = shapes.coarse_values(train.factors)
    assert set(values["shape"]) == {"cube", "cylinder"} and set(values["orientation_deg"]) == {-30.0, 0.0, 30.0}
    assert set(values["scale"]) == set(shapes.COARSE["scales"])
    # the same call gives the same bytes; the full grid is unchanged by the option
    assert torch.equal(train.images, data.load("shapes", "train", n=600, size=32, grid="coarse").images)
    assert data.load("shapes", n=5, size=32).factor_sizes == shapes.FACTOR_SIZES
    with pytest.raises(ValueError, match="grid"):
        data.load("shapes", n=5, size=32, grid="tiny")
    with pytest.raises(ValueError, match="scale"):
        shapes.render(torch.tensor([[0, 0, 0, 2, 0, 0]]), 32, grid="coarse")      # only 2 scales in the coarse grid


def test_coarse_shapes_objects_cover_13_to_28_percent():
    every = torch.tensor([[0, 0, 0, s, k, o] for s in range(2) for k in range(2) for o in range(3)])
    coarse = shapes.object_coverage(every, 32, grid="coarse")
    assert coarse.min() > 0.13 and coarse.max() < 0.285 and 0.17 < coarse.mean() < 0.21
    assert (shapes.object_coverage(every[every[:, 3] == 1], 32, "coarse")
            > shapes.object_coverage(every[every[:, 3] == 0], 32, "coarse")).all()        # scale 1 is the larger
    full = shapes.object_coverage(shapes.sample_factors(400, seed=0), 32)
    assert full.max() < 0.2 and np.median(full) < 0.1                                  # the full grid's small objects
    # the coverage is what the image shows: pixels whose colour is the object's hue, not the floor's or walls'
    image = shapes.render(torch.tensor([[0, 3, 6, 1, 0, 1]]), 32, grid="coarse")[0].permute(1, 2, 0).numpy()
    hue = rgb_to_hsv(np.clip(image, 1e-6, 1))[..., 0]
    share = float((np.abs(hue - shapes.HUES[6]) < 0.02).mean())
    assert abs(share - shapes.object_coverage(torch.tensor([[0, 3, 6, 1, 0, 1]]), 32, "coarse")[0]) < 0.03


def test_coarse_shapes_colour_dominates_pixel_variance():
    """The design of notebook 06's quick data: the three hues carry most of the pixel variance."""
    ds = data.load("shapes", "train", n=1500, size=32, grid="coarse")
    x = ds.images.reshape(len(ds), -1).numpy()
    total = x.var(0).sum()

    def between(j):
        f = ds.factors[:, j].numpy()
        return sum((f == v).mean() * ((x[f == v].mean(0) - x.mean(0)) ** 2).sum() for v in np.unique(f)) / total

    colour, geometry = sum(between(j) for j in range(3)), sum(between(j) for j in range(3, 6))
    assert colour > 0.8 and 0.005 < geometry < 0.1


def test_every_coarse_shapes_factor_changes_the_image():
    _changes_each_factor(shapes, [1, 4, 7, 0, 0, 1], [6, 9, 2, 1, 1, 0], size=32, grid="coarse")


def test_every_pendulum_portrait_manifold_factor_changes_the_image():
    _changes_each_factor(pendulum, [0.3], [1.9])
    base = [0, 0, 0, 0.2, 1, 1.0, 0.0, 0.0, 0.3]
    _changes_each_factor(portraits, base, [1, 1, 1, 0.8, 3, 0.87, 0.05, -0.04, 0.7])
    _changes_each_factor(manifold, torch.zeros(8), torch.ones(8))


def test_every_two_domain_factor_changes_the_image_in_its_family():
    car = [3, 1, 0, 2, -1, -1]
    for k, value in ((0, 6), (1, 3), (2, 2), (3, 4)):
        changed = list(car)
        changed[k] = value
        assert (two_domain.render([changed]) - two_domain.render([car])).abs().sum() > 1.0
    toy = [3, 1, -1, -1, 0, 0]
    for k, value in ((0, 6), (1, 3), (4, 2), (5, 1)):
        changed = list(toy)
        changed[k] = value
        assert (two_domain.render([changed]) - two_domain.render([toy])).abs().sum() > 1.0
    with pytest.raises(ValueError, match="a car sets car_type and colour"):
        two_domain.render([[3, 1, 0, 2, 1, -1]])


# ---------------------------------------------------------------------------------------------
# known answers


def test_digits_are_sklearns_pixels_over_16_with_a_fixed_split():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    train, test = data.load("digits"), data.load("digits", "test")
    assert (len(train), len(test)) == (1500, 297)
    rows = np.concatenate([train.info["rows"], test.info["rows"]])
    assert sorted(rows.tolist()) == list(range(1797))
    assert torch.equal(train.images[:, 0], torch.from_numpy(bunch.images[train.info["rows"]] / 16.0).float())
    assert torch.equal(test.labels, torch.from_numpy(bunch.target[test.info["rows"]]))
    big = data.load("digits", size=28)
    assert big.shape == (1, 28, 28) and abs(float(big.images.mean() - train.images.mean())) < 0.02


def test_toy_attributes_mean_what_they_say():
    moons = data.load("moons")
    upper = moons.images[moons.labels == 1, 1].mean()
    assert upper > moons.images[moons.labels == 0, 1].mean() + 0.5
    circles = data.load("circles", noise=0.0)
    radius = circles.images.norm(dim=1)
    assert torch.allclose(radius[circles.labels == 1], torch.tensor(0.5), atol=1e-5)  # inner circle
    assert torch.allclose(radius[circles.labels == 0], torch.tensor(1.0), atol=1e-5)
    roll = data.load("swiss-roll", dim=3)
    assert roll.shape == (3,) and torch.equal(roll.labels, (roll.factors[:, 1] > 3 * np.pi).long())
    assert torch.equal(roll.attributes[:, 0], roll.labels.float())


def test_sprite_square_has_the_area_and_centre_its_factors_say():
    size = 64
    for scale, x, y in ((5, 0, 31), (0, 20, 7)):
        image = sprites.render([[0, scale, 0, x, y]], size)[0, 0]
        side = 2 * sprites._HALF_SIZE * sprites.SCALES[scale] * size
        assert abs(float(image.sum()) - side ** 2) < 4 * side  # area, up to one pixel row per edge
        rows, cols = torch.nonzero(image, as_tuple=True)
        centre = sprites._MARGIN + (1 - 2 * sprites._MARGIN) * sprites.POSITIONS
        assert abs(float(cols.float().mean() + 0.5) / size - centre[x]) < 1 / size
        assert abs(float(rows.float().mean() + 0.5) / size - centre[y]) < 1 / size


def test_shapes_wall_and_floor_take_their_hues():
    factors = torch.tensor([[f, w, 5, 0, 2, 7] for f, w in ((0, 3), (6, 9), (4, 1))])
    images = shapes.render(factors, 64).permute(0, 2, 3, 1).numpy()
    for (floor, wall, *_), image in zip(factors.tolist(), images):
        top, bottom = rgb_to_hsv(image[1, 2]), rgb_to_hsv(image[-2, 32])
        assert abs(top[0] - shapes.HUES[wall]) < 0.01 or (wall == 0 and top[0] > 0.99)
        assert abs(bottom[0] - shapes.HUES[floor]) < 0.01 or (floor == 0 and bottom[0] > 0.99)


def test_pendulum_centre_of_mass_points_along_theta():
    theta = torch.linspace(0, 2 * np.pi, 25)[:-1]
    images = pendulum.render(theta, 32)[:, 0]
    grid_ = torch.arange(32) + 0.5 - 16
    mass = images.sum(dim=(1, 2))
    x = (images.sum(dim=1) * grid_).sum(dim=1) / mass  # rightwards
    y = (images.sum(dim=2) * grid_).sum(dim=1) / mass  # downwards: theta = 0 hangs down
    recovered = torch.atan2(x, y) % (2 * np.pi)
    error = torch.remainder(recovered - theta + np.pi, 2 * np.pi) - np.pi
    assert error.abs().max() < 0.05


def test_pendulum_sequence_is_ordered_along_the_circle():
    seq = data.load("pendulum", sequence=True, n=48, size=32)
    assert torch.allclose(seq.factors[:, 0], torch.linspace(0, 2 * np.pi, 49)[:-1], atol=1e-5)
    x = seq.images.flatten(1)
    step = (x - x.roll(1, 0)).norm(dim=1)  # neighbours, including the wrap-around from 2 pi back to 0
    opposite = (x - x.roll(24, 0)).norm(dim=1)
    assert step.max() < opposite.min()
    assert step.std() / step.mean() < 0.2  # evenly spaced along the curve


def test_portrait_attributes_are_independent_and_linearly_readable():
    train = data.load("portraits", n=2500)
    test = data.load("portraits", "test", n=600)
    assert train.attribute_names == ("glasses", "smiling", "hat")
    assert torch.equal(train.attributes, train.factors[:, :3])
    correlation = np.corrcoef(train.attributes.T.numpy())
    assert np.abs(correlation - np.eye(3)).max() < 0.08
    # ridge-regression classifier on the raw pixels, in closed form: w = (X'X + lambda I)^-1 X'y
    x = np.concatenate([train.images.flatten(1).numpy(), np.ones((len(train), 1), np.float32)], 1)
    w = np.linalg.solve(x.T @ x + 10.0 * np.eye(x.shape[1], dtype=np.float32), x.T @ (2 * train.attributes.numpy() - 1))
    xt = np.concatenate([test.images.flatten(1).numpy(), np.ones((len(test), 1), np.float32)], 1)
    accuracy = ((xt @ w > 0) == test.attributes.numpy().astype(bool)).mean(0)
    assert (accuracy > 0.9).all(), accuracy


def test_manifold_has_the_intrinsic_dimension_it_claims():
    for n, options in ((8, {}), (16, {"image_size": 16})):
        f, _ = manifold.generator(n, 64, options.get("image_size"), 1234)
        z = torch.randn(5, n, generator=torch.Generator().manual_seed(0))
        for point in z:
            jacobian = torch.autograd.functional.jacobian(f, point[None])[0, :, 0]  # d x n
            singular = torch.linalg.svdvals(jacobian)
            assert len(singular) == n and singular[-1] / singular[0] > 1e-3  # full rank n
        ds = data.load("manifold", n=50, intrinsic_dim=n, **options)
        assert ds.factors.shape == (50, n) and ds.factor_sizes == (None,) * n
    images = data.load("manifold", n=10, intrinsic_dim=16, image_size=16)
    assert images.shape == (1, 16, 16)
    test = data.load("manifold", "test", n=10)
    assert torch.equal(test.render(test.factors), test.images)  # train and test share f


def test_two_domain_keeps_the_domain_out_of_the_metadata_a_model_sees():
    ds = data.load("two-domain", n=400, size=32)
    is_toy = ds.domain.bool()
    assert 0.35 < is_toy.float().mean() < 0.65
    assert (ds.factors[is_toy][:, 2:4] == -1).all() and (ds.factors[~is_toy][:, 4:6] == -1).all()
    assert (ds.factors[~is_toy][:, 2:4] >= 0).all() and (ds.factors[is_toy][:, 4:6] >= 0).all()
    toys = ds.images[is_toy]
    assert torch.equal(toys[:, 0], toys[:, 1]) and torch.equal(toys[:, 1], toys[:, 2])  # grey
    x, target = ds[0]
    assert torch.equal(target, ds.factors[0])  # items carry factors, not the domain


# ---------------------------------------------------------------------------------------------
# at scale (the rendering speed is measured in benchmarks/metric_speed.py, never in a test)


@pytest.mark.parametrize("name", ["sprites", "shapes"])
def test_rendering_ten_thousand_images_gives_ten_thousand_distinct_valid_images(name):
    module = FACTOR_MODULES[name]
    factors = module.sample_factors(10_000, seed=0)
    images = module.render(factors, 64)
    assert images.shape[0] == 10_000 and images.shape[-2:] == (64, 64)
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    assert torch.equal(torch.as_tensor(images[:3]), torch.as_tensor(module.render(factors[:3], 64)))
