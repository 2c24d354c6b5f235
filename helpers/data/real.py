"""The papers' real data sets: pinned files, fetched once into the cache, parsed by `formats`.

Checksums are the published ones (see data/README.md for where each comes from): SHA-256 where
one is published, MD5 for the two files with no published SHA-256 (dSprites' npz and the IWAE
Omniglot `chardata.mat`). Mirrors are tried in order; the checksum decides, not the URL.

Large sets would not fit in memory as float32 (3D Shapes: 480,000 x 3 x 64 x 64 floats = 23 GB):
pass `n=` for a random subset, or `storage="uint8"` to keep one byte per pixel (`ds[i]` still
returns float32 in [0, 1]). A load that would need more than MAX_FLOAT32_GB as float32 stops
and says so.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from . import formats
from .dataset import ArrayDataset
from .download import RemoteFile, cache_dir, fetch
from .factors import flat_index, split_mask

MAX_FLOAT32_GB = 4.0

_TFDS = "TensorFlow Datasets' url_checksums"
_OMNIGLOT = "https://github.com/brendenlake/omniglot/raw/master/python/"


def _mnist_like(subdir, urls, checksums, source):
    files = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return {f: RemoteFile(f, tuple(u + f for u in urls), c, subdir, s, source=source)
            for f, (c, s) in zip(files, checksums)}


def _drive(file_id):
    return (f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t",
            f"https://drive.google.com/uc?export=download&id={file_id}")


_CELEBA_MANUAL = ("Google Drive often refuses scripted downloads of CelebA. Get the file from the CelebA page "
                  "(https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html: 'Align&Cropped Images' for the zip, "
                  "'Anno' and 'Eval' for the text files) and place it, unchanged, in the folder above.")

#: Every real file the course uses, by data set. Tests may swap entries for small local files.
REMOTE_FILES = {
    "mnist": _mnist_like(
        "mnist",
        ("https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        [("sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
         ("sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
         ("sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
         ("sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542)], _TFDS),
    "fashion-mnist": _mnist_like(
        "fashion-mnist",
        ("https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        [("sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
         ("sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
         ("sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
         ("sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148)], _TFDS),
    "binarized-mnist": {
        f"binarized_mnist_{part}.amat": RemoteFile(
            f"binarized_mnist_{part}.amat",
            (f"http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/binarized_mnist_{part}.amat",),
            checksum, "binarized-mnist", size, source=_TFDS)
        for part, checksum, size in (
            ("train", "sha256:ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d", 78400000),
            ("valid", "sha256:1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2", 15680000),
            ("test", "sha256:e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c", 15680000))
    },
    "omniglot": {
        "chardata.mat": RemoteFile(
            "chardata.mat", ("https://github.com/yburda/iwae/raw/master/datasets/OMNIGLOT/chardata.mat",
                             "https://raw.githubusercontent.com/yburda/iwae/master/datasets/OMNIGLOT/chardata.mat"),
            "md5:21ecaf34373511aa7691cf2e0802aa3d", "omniglot",
            source="a tfsnippet-based Omniglot loader's DATASET_MD5 (the only published checksum found)"),
        "images_background.zip": RemoteFile(
            "images_background.zip", (_OMNIGLOT + "images_background.zip",),
            "sha256:ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640", "omniglot", 9464212,
            source=_TFDS),
        "images_evaluation.zip": RemoteFile(
            "images_evaluation.zip", (_OMNIGLOT + "images_evaluation.zip",),
            "sha256:1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee", "omniglot", 6462886,
            source=_TFDS),
    },
    "dsprites": {
        "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz": RemoteFile(
            "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
            ("https://github.com/deepmind/dsprites-dataset/raw/master/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
             "https://raw.githubusercontent.com/google-deepmind/dsprites-dataset/master/"
             "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"),
            "md5:7da33b31b13a06f4b04a70402ce90c2e", "dsprites",
            source="the MD5 used by many independent dSprites loaders (no SHA-256 is published for the npz)"),
    },
    "shapes3d": {
        "3dshapes.h5": RemoteFile(
            "3dshapes.h5", ("https://storage.googleapis.com/3d-shapes/3dshapes.h5",),
            "sha256:0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785", "shapes3d", 267573662,
            source=_TFDS),
    },
    "celeba": {
        "img_align_celeba.zip": RemoteFile(
            "img_align_celeba.zip", _drive("0B7EVK8r0v71pZjFTYXZWM3FlRnM"),
            "sha256:46fb89443c578308acf364d7d379fe1b9efb793042c0af734b6112e4fd3a8c74", "celeba", 1443490838,
            manual=_CELEBA_MANUAL, source=_TFDS),
        "list_attr_celeba.txt": RemoteFile(
            "list_attr_celeba.txt", _drive("0B7EVK8r0v71pblRyaVFSWGxPY0U"),
            "sha256:f0e5da289d5ccf75ffe8811132694922b60f2af59256ed362afa03fefba324d0", "celeba", 26721026,
            manual=_CELEBA_MANUAL, source=_TFDS),
        "list_eval_partition.txt": RemoteFile(
            "list_eval_partition.txt", _drive("0B7EVK8r0v71pY0NSMzRuSXJEVkk"),
            "sha256:fc955bcb3ef8fbdf7d5640d9a8693a8431b5f2ee291a5c1449a1549e7e073fe7", "celeba", 2836386,
            manual=_CELEBA_MANUAL, source=_TFDS),
    },
    "cifar10": {
        # TFDS pins the *binary* version (cifar-10-binary.tar.gz, SHA-256 c4a38c50...); this is the python one.
        "cifar-10-python.tar.gz": RemoteFile(
            "cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
            "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", "cifar10", 170498071,
            source="Keras' keras.datasets.cifar10.load_data (file_hash of get_file); the MD5 on records that "
                   "give both is Krizhevsky's c58f30108f718f92721af3b95e74349a"),
    },
}


def _get(name: str, filename: str) -> Path:
    return fetch(REMOTE_FILES[name][filename])


def _cached_array(folder: Path, filename: str, build) -> np.ndarray:
    """A derived array (parsed text, resized crops) saved next to its source as .npy, built once.

    Written under a temporary name and renamed, like downloads, so a half-written cache never loads.
    """
    path = folder / filename
    if not path.exists():
        array = build()
        partial = folder / f".{filename}.partial-{os.getpid()}.npy"
        np.save(partial, array)
        os.replace(partial, path)
        return array
    return np.load(path, mmap_mode="r")


def _subset(count: int, n: int | None, seed: int) -> np.ndarray:
    """Row indices: all of them, or a random (sorted) n of them."""
    if n is None or n >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=int(n), replace=False))


def _pixels(uint8_images: np.ndarray, storage: str, name: str) -> torch.Tensor:
    """N x C x H x W tensor: float32 in [0, 1], or uint8 (0-255) with storage="uint8"."""
    if storage not in ("float32", "uint8"):
        raise ValueError("storage must be 'float32' or 'uint8'")
    images = torch.from_numpy(np.ascontiguousarray(uint8_images))
    if storage == "uint8":
        return images
    gigabytes = images.numel() * 4 / 2**30
    if gigabytes > MAX_FLOAT32_GB:
        raise MemoryError(
            f"{name}: {len(images):,} images as float32 would take {gigabytes:.1f} GB. Pass n= (a random subset, "
            f"e.g. n=50000) or storage='uint8' (1 byte per pixel; ds[i] still returns float32 in [0, 1])."
        )
    return images.float().div_(255.0)


def _check_split(split, allowed, name):
    if split not in allowed:
        raise ValueError(f"{name}: split must be one of {', '.join(allowed)}")


def load_mnist(split: str = "train", n: int | None = None, name: str = "mnist") -> ArrayDataset:
    """MNIST or Fashion-MNIST (name="fashion-mnist"): 60,000 train / 10,000 test, 1 x 28 x 28, labels 0-9."""
    _check_split(split, ("train", "test"), name)
    prefix = "train" if split == "train" else "t10k"
    images = formats.read_idx(_get(name, f"{prefix}-images-idx3-ubyte.gz"))
    labels = formats.read_idx(_get(name, f"{prefix}-labels-idx1-ubyte.gz"))
    rows = np.arange(len(images)) if n is None else np.arange(min(int(n), len(images)))
    return ArrayDataset(_pixels(images[rows, None], "float32", name), name=name, split=split,
                        labels=torch.from_numpy(labels[rows].astype(np.int64)))


def load_fashion_mnist(split: str = "train", n: int | None = None) -> ArrayDataset:
    return load_mnist(split, n, name="fashion-mnist")


def load_binarized_mnist(split: str = "train", n: int | None = None) -> ArrayDataset:
    """Larochelle & Murray's static binarisation of MNIST: 50,000 train / 10,000 valid / 10,000 test."""
    _check_split(split, ("train", "valid", "test"), "binarized-mnist")
    source = _get("binarized-mnist", f"binarized_mnist_{split}.amat")
    flat = _cached_array(source.parent, f"binarized_mnist_{split}.npy",
                         lambda: formats.read_amat(source).astype(np.uint8))
    flat = flat if n is None else flat[:int(n)]
    images = torch.from_numpy(np.asarray(flat, dtype=np.float32)).reshape(-1, 1, 28, 28)
    return ArrayDataset(images, name="binarized-mnist", split=split)


def load_omniglot(split: str = "train", n: int | None = None, version: str = "iwae", size: int = 28) -> ArrayDataset:
    """Omniglot. version="iwae": the 28 x 28 set of the IWAE and VHP papers (24,345 train / 8,070 test,
    grey levels in [0, 1]). version="official": the background (train) / evaluation (test) zips,
    105 x 105 binary strokes, area-averaged to `size`. Labels are alphabets; factors hold
    (alphabet, character)."""
    _check_split(split, ("train", "test"), "omniglot")
    if version == "iwae":
        if size != 28:
            raise ValueError("omniglot: the IWAE version is 28 x 28; use version='official' for other sizes")
        part = formats.read_omniglot_mat(_get("omniglot", "chardata.mat"))[split]
        images = torch.from_numpy(part["images"]).unsqueeze(1)
        alphabet, character = part["alphabet"], part["character"]
        # make character indices global: one per (alphabet, character) pair
        character = np.unique(np.stack([alphabet, character], 1), axis=0, return_inverse=True)[1].reshape(-1)
    elif version == "official":
        archive = "images_background.zip" if split == "train" else "images_evaluation.zip"
        part = formats.read_omniglot_zip(_get("omniglot", archive))
        images = torch.from_numpy(part["images"]).float().unsqueeze(1)
        if size != images.shape[-1]:
            images = torch.nn.functional.interpolate(images, size=(size, size), mode="area")
        alphabet, character = part["alphabet"], part["character"]
    else:
        raise ValueError("omniglot: version must be 'iwae' or 'official'")
    rows = np.arange(len(images)) if n is None else np.arange(min(int(n), len(images)))
    factors = torch.from_numpy(np.stack([alphabet, character], axis=1)[rows].astype(np.int64))
    return ArrayDataset(images[rows].clamp(0, 1).contiguous(), name="omniglot", split=split,
                        labels=factors[:, 0].clone(), factors=factors, factor_names=("alphabet", "character"),
                        factor_sizes=(int(alphabet.max()) + 1, int(character.max()) + 1),
                        info={"version": version})


def load_dsprites(split: str = "train", n: int | None = None, seed: int = 0, storage: str = "float32") -> ArrayDataset:
    """dSprites (737,280 images). Factors as in `sprites` (the constant colour is dropped); the train /
    test split is the same hash of the factor grid as for `sprites`; split="all" takes every image."""
    from . import sprites

    _check_split(split, ("train", "test", "all"), "dsprites")
    data = formats.read_dsprites_npz(_get("dsprites", "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"))
    classes = data["latents_classes"][:, 1:].astype(np.int64)
    in_split = np.flatnonzero(split_mask(flat_index(classes, sprites.FACTOR_SIZES), split))
    rows = in_split[_subset(len(in_split), n, seed)]
    images = data["imgs"][rows][:, None]
    images *= np.uint8(255)  # 0/1 -> 0/255 in place: the full file is 3 GB, a second copy would not fit on Colab
    return ArrayDataset(_pixels(images, storage, "dsprites"), name="dsprites", split=split,
                        factors=torch.from_numpy(classes[rows]), factor_names=sprites.FACTOR_NAMES,
                        factor_sizes=sprites.FACTOR_SIZES, info={"rows": rows})


#: 3D Shapes' factor values, in file order (from the data set's README).
SHAPES3D_VALUES = (np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10),
                   np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30, 30, 15))


def shapes3d_indices(values: np.ndarray) -> np.ndarray:
    """Factor values (N x 6, as stored in 3dshapes.h5) -> indices into each factor's grid."""
    values = np.asarray(values, dtype=np.float64)
    return np.stack([np.abs(values[:, k, None] - grid[None]).argmin(axis=1)
                     for k, grid in enumerate(SHAPES3D_VALUES)], axis=1).astype(np.int64)


def load_shapes3d(split: str = "train", n: int | None = None, seed: int = 0, storage: str = "float32") -> ArrayDataset:
    """3D Shapes (480,000 RGB 64 x 64 images). Factors as in `shapes`; hash split over the grid as there."""
    from . import shapes

    _check_split(split, ("train", "test", "all"), "shapes3d")
    path = _get("shapes3d", "3dshapes.h5")
    factors = shapes3d_indices(formats.read_shapes3d_h5(path, images=False)["labels"])
    in_split = np.flatnonzero(split_mask(flat_index(factors, shapes.FACTOR_SIZES), split))
    rows = in_split[_subset(len(in_split), n, seed)]
    images = formats.read_shapes3d_h5(path, indices=rows)["images"].transpose(0, 3, 1, 2)
    return ArrayDataset(_pixels(images, storage, "shapes3d"), name="shapes3d", split=split,
                        factors=torch.from_numpy(factors[rows]), factor_names=shapes.FACTOR_NAMES,
                        factor_sizes=shapes.FACTOR_SIZES, info={"rows": rows})


CELEBA_CROP = 148  # centre square cut from the 178 x 218 aligned images before resizing (as in WAE / RAE)


def celeba_crops(archive: str | os.PathLike, filenames, size: int = 64) -> np.ndarray:
    """Centre-crop (148 x 148) and resize each named image of img_align_celeba.zip: N x size x size x 3 uint8."""
    import io
    import zipfile

    from PIL import Image

    out = np.empty((len(filenames), size, size, 3), dtype=np.uint8)
    with zipfile.ZipFile(archive) as zf:
        members = {Path(m).name: m for m in zf.namelist() if m.lower().endswith(".jpg")}
        for i, filename in enumerate(filenames):
            with Image.open(io.BytesIO(zf.read(members[filename]))) as im:
                w, h = im.size
                left, top = (w - CELEBA_CROP) // 2, (h - CELEBA_CROP) // 2
                crop = im.convert("RGB").crop((left, top, left + CELEBA_CROP, top + CELEBA_CROP))
                out[i] = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR))
            if (i + 1) % 20000 == 0:
                print(f"celeba: cropped {i + 1:,} / {len(filenames):,} images", flush=True)
    return out


def load_celeba(split: str = "train", n: int | None = None, seed: int = 0, size: int = 64,
                storage: str = "float32") -> ArrayDataset:
    """CelebA: 64 x 64 centre crops (162,770 train / 19,867 valid / 19,962 test) and the 40 attributes.

    The first call crops all 202,599 images once (a few minutes) into the cache.
    """
    _check_split(split, ("train", "valid", "test"), "celeba")
    attributes = formats.read_celeba_attributes(_get("celeba", "list_attr_celeba.txt"))
    partition = formats.read_celeba_partition(_get("celeba", "list_eval_partition.txt"))
    if partition["filenames"] != attributes["filenames"]:
        raise ValueError("celeba: list_eval_partition.txt and list_attr_celeba.txt list different images")
    folder = cache_dir() / "celeba"
    crops = _cached_array(folder, f"celeba_{size}x{size}_crop{CELEBA_CROP}.npy",
                          lambda: celeba_crops(_get("celeba", "img_align_celeba.zip"), attributes["filenames"], size))
    in_split = np.flatnonzero(partition["partition"] == ("train", "valid", "test").index(split))
    rows = in_split[_subset(len(in_split), n, seed)]
    values = torch.from_numpy(attributes["attributes"][rows].astype(np.int64))
    return ArrayDataset(_pixels(np.asarray(crops[rows]).transpose(0, 3, 1, 2), storage, "celeba"),
                        name="celeba", split=split, factors=values, factor_names=tuple(attributes["names"]),
                        factor_sizes=(2,) * len(attributes["names"]), attributes=values.float(),
                        attribute_names=tuple(attributes["names"]), info={"rows": rows})


def load_cifar10(split: str = "train", n: int | None = None, storage: str = "float32") -> ArrayDataset:
    """CIFAR-10 (Krizhevsky 2009): 50,000 train / 10,000 test RGB 32 x 32 images, labels 0-9 in the
    order of `ds.info["label_names"]` (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck).

    n takes the first n images of the split (the batches are already in random order).
    The tarball holds pickles: it is parsed only after `fetch` matched its pinned checksum.
    """
    _check_split(split, ("train", "test"), "cifar10")
    part = formats.read_cifar10_tarball(_get("cifar10", "cifar-10-python.tar.gz"), split)
    rows = np.arange(len(part["images"])) if n is None else np.arange(min(int(n), len(part["images"])))
    return ArrayDataset(_pixels(part["images"][rows], storage, "cifar10"), name="cifar10", split=split,
                        labels=torch.from_numpy(part["labels"][rows]),
                        info={"label_names": part["label_names"]})


# --- SmallNORB and Cars3D: the two halves of the Local VAE paper's CarsNORB (its Sec. 5.2) -----------------
# Y. LeCun, F. J. Huang, L. Bottou, "Learning Methods for Generic Object Recognition with Invariance to Pose and
# Lighting", CVPR 2004, https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ ; S. Reed, Y. Zhang, Y. Zhang, H. Lee,
# "Deep Visual Analogy-Making", NeurIPS 2015, http://www.scottreed.info (the Cars3D renderings of S. Fidler,
# S. Dickinson, R. Urtasun, "3D Object Detection and Viewpoint Estimation with a Deformable 3D Cuboid Model",
# NeurIPS 2012).
_NORB_URL = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/"
_NORB_PREFIX = {"train": "smallnorb-5x46789x9x18x6x2x96x96-training", "test": "smallnorb-5x01235x9x18x6x2x96x96-testing"}
REMOTE_FILES.update({
    "smallnorb": {
        f"{_NORB_PREFIX[split]}-{part}.mat.gz": RemoteFile(
            f"{_NORB_PREFIX[split]}-{part}.mat.gz", (f"{_NORB_URL}{_NORB_PREFIX[split]}-{part}.mat.gz",),
            checksum, "smallnorb", size, source=_TFDS)
        for split, part, checksum, size in (
            ("train", "dat", "sha256:5ffd6272a07d32695ee1082a26a41a93a37aab8c28da047f8c34ed348d214873", 131896188),
            ("train", "cat", "sha256:2784e542c1922060691090952b6cd6278879a216c90f81476f0f00256d42cdaa", 348),
            ("train", "info", "sha256:de7eb932ebe7a4ee16217fead60660d0eb3d23632c2f4d1c51f88c501c17bf32", 71052),
            ("test", "dat", "sha256:cf7104eed3e51174d2f65b66d1e5878b9da233b886f161b0d88f4510ba2c7474", 130799817),
            ("test", "cat", "sha256:ecaf6d5bb8c3bc5eab9cf0258f6d2198dd474e016e374836fc097f2e5ff509ff", 347),
            ("test", "info", "sha256:16adf314226327ee006d1a44db8cfef52773c06c829951d5653a9f6f310248a2", 10428))
    },
    "cars3d": {
        "nips2015-analogy-data.tar.gz": RemoteFile(
            "nips2015-analogy-data.tar.gz", ("http://www.scottreed.info/files/nips2015-analogy-data.tar.gz",),
            "md5:4e866a7919c1beedf53964e6f7a23686", "cars3d",
            source="the full-file MD5 pinned by the disent library's Cars3D loader (no SHA-256 is published)"),
    },
})

SMALLNORB_FACTOR_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
SMALLNORB_FACTOR_SIZES = (5, 10, 9, 18, 6)
CARS3D_FACTOR_NAMES = ("elevation", "azimuth", "car")
CARS3D_FACTOR_SIZES = (4, 24, 183)


def _resize_uint8(images: np.ndarray, size: int, block: int = 2048) -> np.ndarray:
    """N x C x H x W uint8 -> N x C x size x size uint8, area-averaged (a no-op when the size already fits)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return np.ascontiguousarray(images)
    out = np.empty((len(images), images.shape[1], size, size), dtype=np.uint8)
    for start in range(0, len(images), block):
        chunk = torch.from_numpy(np.ascontiguousarray(images[start:start + block])).float()
        out[start:start + block] = torch.nn.functional.interpolate(chunk, size=(size, size), mode="area") \
            .round().clamp(0, 255).to(torch.uint8).numpy()
    return out


def load_smallnorb(split: str = "train", n: int | None = None, seed: int = 0, size: int = 64,
                   storage: str = "float32") -> ArrayDataset:
    """SmallNORB: 24,300 train / 24,300 test grey 96 x 96 stereo pairs of 50 toys; the left image, area-resized
    to `size`. Official split (train: instances 4, 6, 7, 8, 9 of each category; test: 0, 1, 2, 3, 5).
    Factors: category 5, instance 10, elevation 9, azimuth 18 (the file's 0, 2, ..., 34 halved), lighting 6."""
    _check_split(split, ("train", "test", "all"), "smallnorb")
    images, factors = [], []
    for part in (("train", "test") if split == "all" else (split,)):
        prefix = _NORB_PREFIX[part]
        dat = formats.read_norb_matrix(_get("smallnorb", f"{prefix}-dat.mat.gz"))          # N x 2 x 96 x 96
        cat = formats.read_norb_matrix(_get("smallnorb", f"{prefix}-cat.mat.gz")).reshape(-1)
        info = formats.read_norb_matrix(_get("smallnorb", f"{prefix}-info.mat.gz")).reshape(len(cat), -1)
        if not (len(dat) == len(cat) == len(info)):
            raise ValueError(f"smallnorb {part}: {len(dat)} images, {len(cat)} categories, {len(info)} info rows")
        images.append(dat[:, :1])                                                            # left camera
        factors.append(np.stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]], axis=1))
    images, factors = np.concatenate(images), np.concatenate(factors).astype(np.int64)
    rows = _subset(len(images), n, seed)
    return ArrayDataset(_pixels(_resize_uint8(images[rows], size), storage, "smallnorb"), name="smallnorb",
                        split=split, labels=torch.from_numpy(factors[rows, 0]), factors=torch.from_numpy(factors[rows]),
                        factor_names=SMALLNORB_FACTOR_NAMES, factor_sizes=SMALLNORB_FACTOR_SIZES,
                        info={"rows": rows, "size": size})


def load_cars3d(split: str = "train", n: int | None = None, seed: int = 0, size: int = 64,
                storage: str = "float32") -> ArrayDataset:
    """Cars3D: 183 cars x 24 azimuths x 4 elevations = 17,568 RGB 128 x 128 renderings, area-resized to `size`
    (parsed once from the tarball and cached beside it as .npy). Factors: elevation 4, azimuth 24, car 183.
    No official split: train / test are the course's hash split of the factor grid (as for 3D Shapes)."""
    _check_split(split, ("train", "test", "all"), "cars3d")
    source = _get("cars3d", "nips2015-analogy-data.tar.gz")
    parsed = {}

    def parse():
        if not parsed:
            parsed.update(formats.read_cars3d_tarball(source))
        return parsed

    images = _cached_array(source.parent, f"cars3d_{size}px.npy",
                           lambda: _resize_uint8(parse()["images"].transpose(0, 3, 1, 2), size))
    factors = np.asarray(_cached_array(source.parent, "cars3d_factors.npy", lambda: parse()["factors"]))
    in_split = np.flatnonzero(split_mask(flat_index(factors, CARS3D_FACTOR_SIZES), split))
    rows = in_split[_subset(len(in_split), n, seed)]
    return ArrayDataset(_pixels(np.asarray(images[rows]), storage, "cars3d"), name="cars3d", split=split,
                        factors=torch.from_numpy(factors[rows]), factor_names=CARS3D_FACTOR_NAMES,
                        factor_sizes=CARS3D_FACTOR_SIZES, info={"rows": rows, "size": size})
