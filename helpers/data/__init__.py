"""Every data set of the course, by name.

    from helpers import data
    data.available()                     # what there is: name, kind, item shape, factors
    ds = data.load("sprites", n=2000)    # a torch Dataset: ds.images, ds.factors, ...
    ds = data.load("mnist", split="test")

Two kinds of data set:

- embedded: made here, with no network, as a pure function of the options and the seed (same call,
  same bytes): scikit-learn's digits and toys, and procedural images with known ground-truth
  factors (sprites, shapes, pendulum, portraits, manifold, two-domain). For those,
  `sample_factors(name, n, seed)` and `render(name, factors)` (or `ds.sample_factors`,
  `ds.render`) draw images of chosen factors, e.g. to vary one factor at a time.
- real: the papers' data sets, downloaded once into the cache (`COURSE_DATA_DIR`, default data/)
  and checked against a pinned checksum (see `download` and `real`).

Common options: `n` (how many items), `seed`, and `size` where the images come in several sizes.
Splits: "train" and "test" (disjoint), plus "valid" where a real set has one.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from typing import NamedTuple

from .dataset import ArrayDataset
from .download import (ChecksumMismatchError, DataError, DataUnavailableError, RemoteFile, UnsafeArchiveError,
                       cache_dir, extract_zip, fetch)

__all__ = ["load", "available", "sample_factors", "render", "ArrayDataset", "DatasetInfo", "cache_dir", "fetch",
           "extract_zip", "RemoteFile", "DataError", "DataUnavailableError", "ChecksumMismatchError",
           "UnsafeArchiveError"]


class DatasetInfo(NamedTuple):
    name: str
    kind: str  # "embedded" or "real"
    shape: tuple  # one item with default options: C x H x W, or (D,) for vector data
    factors: tuple  # ground-truth factor names ("" if none)
    description: str


class _Entry(NamedTuple):
    info: DatasetInfo
    module: str
    function: str
    fixed: dict  # arguments the name itself fixes (e.g. which toy)


def _entry(key, kind, shape, factors, description, module, function="load", **fixed):
    return key, _Entry(DatasetInfo(key, kind, shape, tuple(factors), description), module, function, fixed)


_SPRITES = ("shape", "scale", "orientation", "posX", "posY")
_SHAPES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
_REGISTRY = dict([
    _entry("digits", "embedded", (1, 8, 8), (), "scikit-learn's handwritten digits, labels 0-9; size=8|16|28|32; "
           "1500 train / 297 test", "digits"),
    _entry("moons", "embedded", (2,), ("upper_moon",), "two half circles (vector data); attribute = which moon",
           "toys", name="moons"),
    _entry("circles", "embedded", (2,), ("inner_circle",), "two concentric circles (vector data); "
           "attribute = inner circle", "toys", name="circles"),
    _entry("swiss-roll", "embedded", (2,), ("outer_half", "t"), "swiss roll (vector data, dim=2|3); "
           "attribute = outer half", "toys", name="swiss-roll"),
    _entry("sprites", "embedded", (1, 64, 64), _SPRITES, "dSprites' factors drawn procedurally, binary; size=64|32",
           "sprites"),
    _entry("shapes", "embedded", (3, 64, 64), _SHAPES, "3D Shapes' factors as a ray-cast room scene, RGB; size=64|32; "
           "grid='coarse': 2 scales x 2 shapes x 3 orientations of larger objects, all hues",
           "shapes"),
    _entry("pendulum", "embedded", (1, 16, 16), ("theta",), "pendulum at angle theta (continuous), grey; "
           "size=16|32|64; sequence=True orders images along theta", "pendulum"),
    _entry("portraits", "embedded", (3, 32, 32), ("glasses", "smiling", "hat", "skin_tone", "hair_colour",
                                                  "face_size", "face_x", "face_y", "background_hue"),
           "face drawings: 3 binary attributes + 6 nuisance factors, RGB; size=32|64", "portraits"),
    _entry("manifold", "embedded", (64,), ("z0", "...", "z7"), "z ~ N(0, I_n) through a fixed random smooth net; "
           "intrinsic_dim=8, ambient_dim=64 (vector data) or image_size=16 (images)", "manifold"),
    _entry("two-domain", "embedded", (3, 64, 64), ("azimuth", "elevation", "car_type", "colour", "category",
                                                   "lighting"),
           "cars (coloured) and turntable toys (grey, lit) sharing azimuth and elevation; .domain for evaluation; "
           "-1 = factor does not apply; size=64|32", "two_domain"),
    _entry("mnist", "real", (1, 28, 28), (), "MNIST, labels 0-9; 60,000 train / 10,000 test", "real", "load_mnist"),
    _entry("fashion-mnist", "real", (1, 28, 28), (), "Fashion-MNIST, labels 0-9; 60,000 / 10,000", "real",
           "load_fashion_mnist"),
    _entry("binarized-mnist", "real", (1, 28, 28), (), "static binarised MNIST (Larochelle); "
           "50,000 train / 10,000 valid / 10,000 test", "real", "load_binarized_mnist"),
    _entry("omniglot", "real", (1, 28, 28), ("alphabet", "character"), "Omniglot: version='iwae' (28x28 of the "
           "IWAE/VHP papers) or 'official' (background/evaluation zips, size=...)", "real", "load_omniglot"),
    _entry("dsprites", "real", (1, 64, 64), _SPRITES, "dSprites npz, 737,280 images; split train|test|all",
           "real", "load_dsprites"),
    _entry("shapes3d", "real", (3, 64, 64), _SHAPES, "3D Shapes h5 (needs h5py), 480,000 images; "
           "split train|test|all", "real", "load_shapes3d"),
    _entry("celeba", "real", (3, 64, 64), ("40 attributes",), "CelebA 64x64 centre crops + 40 binary attributes; "
           "train|valid|test", "real", "load_celeba"),
    _entry("cifar10", "real", (3, 32, 32), (), "CIFAR-10 (python version), labels 0-9 (ds.info['label_names']); "
           "50,000 train / 10,000 test RGB 32x32; storage='uint8' keeps bytes", "real", "load_cifar10"),
    _entry("smallnorb", "real", (1, 64, 64), ("category", "instance", "elevation", "azimuth", "lighting"),
           "SmallNORB, left camera, grey 96x96 area-resized to size=64; 24,300 train / 24,300 test (official split)",
           "real", "load_smallnorb"),
    _entry("cars3d", "real", (3, 64, 64), ("elevation", "azimuth", "car"), "Cars3D, 17,568 RGB 128x128 renderings "
           "area-resized to size=64; train|test|all (hash split of the factor grid)", "real", "load_cars3d"),
])

_FACTOR_SETS = {"sprites": "sprites", "shapes": "shapes", "pendulum": "pendulum", "portraits": "portraits",
                "manifold": "manifold", "two-domain": "two_domain"}


def available(kind: str | None = None) -> list[DatasetInfo]:
    """Every data set: name, kind (embedded / real), item shape with default options, factors.

    Vector data sets (moons, circles, swiss-roll, manifold) have items of shape (D,), not C x H x W.
    `pandas.DataFrame(available())` shows it as a table.
    """
    return [e.info for e in _REGISTRY.values() if kind is None or e.info.kind == kind]


def _lookup(name: str, registry=None) -> str:
    registry = _REGISTRY if registry is None else registry
    key = str(name).strip().lower().replace("_", "-")
    if key not in registry:
        close = difflib.get_close_matches(key, list(registry), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown data set {name!r}.{hint} Valid names: {', '.join(registry)}")
    return key


def _call(function, fixed: dict, what: str, *args, **options):
    """Call a loader with the user's options, saying which options exist if one is wrong."""
    parameters = inspect.signature(function).parameters
    valid = [p for p in parameters if p not in fixed and p not in ("factors", "theta", "z")]
    unknown = [o for o in options if o not in parameters or o in fixed]
    if unknown:
        raise TypeError(f"{what}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(valid)}")
    return function(*args, **fixed, **options)


def load(name: str, split: str = "train", **options) -> ArrayDataset:
    """The data set `name` (see `available()`), split "train" / "test" (or "valid", "all" where they exist).

    Options depend on the set: n, seed, size, ... An unknown option is an error listing the valid ones.
    """
    key = _lookup(name)
    entry = _REGISTRY[key]
    module = importlib.import_module(f"{__name__}.{entry.module}")
    return _call(getattr(module, entry.function), entry.fixed, f"load({key!r})", split=split, **options)


def _factor_module(name: str):
    key = _lookup(name, _FACTOR_SETS)
    return key, importlib.import_module(f"{__name__}.{_FACTOR_SETS[key]}")


def sample_factors(name: str, n: int, seed: int = 0, **options):
    """n ground-truth factor vectors of a procedural set, drawn as its loader draws them (no split)."""
    key, module = _factor_module(name)
    return _call(module.sample_factors, {}, f"sample_factors({key!r})", n, seed, **options)


def render(name: str, factors, **options):
    """Images of a procedural set for the given factor vectors (e.g. from `sample_factors`)."""
    key, module = _factor_module(name)
    return _call(module.render, {}, f"render({key!r})", factors, **options)
