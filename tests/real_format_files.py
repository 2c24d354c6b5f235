"""Small (or full-sized) files in the real data sets' on-disk formats, for tests of the real loaders.

CI has no network and no copy of MNIST, dSprites or CelebA, yet the `gpu` and `paper` profiles load
them. This module writes stand-in files in each data set's real format, under the cache folder
layout that `helpers.data.real.REMOTE_FILES` expects, plus `checksums.json`: the test-only checksum
override that `helpers.data.download` reads from `COURSE_TEST_CHECKSUMS` (the real pins would
refuse these files). With both variables set, `helpers.data.load("mnist")` etc. run the real
parsers and loaders on them.

    python -m tests.real_format_files OUT_DIR                 # a few hundred images per set, seconds
    python -m tests.real_format_files OUT_DIR --full --jobs 7 # the real sizes (for timing runs on a GPU)
    python -m tests.real_format_files OUT_DIR --mnist-from D  # real MNIST IDX files from folder D
    export $(python -m tests.real_format_files OUT_DIR)       # prints COURSE_DATA_DIR=... COURSE_TEST_CHECKSUMS=...

Content looks like the real thing where that is cheap:

- MNIST: scikit-learn's digits in MNIST's layout (a 20 x 20 box centred in 28 x 28) with their labels,
  repeated with small random shifts beyond its 1,500 train / 297 test images;
- Fashion-MNIST: the same digits transposed, so that the two sets differ;
- binarised MNIST: those MNIST images thresholded at one half;
- Omniglot: digits as characters, in `chardata.mat` (IWAE layout) and the two official zips;
- dSprites: the embedded `sprites` generator, with latents_classes / latents_values that match;
- 3D Shapes: the embedded `shapes` generator with its factor values (`real.SHAPES3D_VALUES`);
- CelebA: the embedded `portraits` (64 x 64) scaled into the centre of 178 x 218 JPEGs;
  Eyeglasses, Smiling, Wearing_Hat and the hair colours come from the portraits, the rest are random.
- CIFAR-10: the embedded `portraits` at 32 x 32 with random labels, in the python version's pickled
  batches (protocol 2, bytes keys) inside cifar-10-python.tar.gz; with full=True, random pixels.
- SmallNORB: the embedded `two-domain` turntable toys in grey, 96 x 96 stereo pairs (the same image twice),
  in LeCun's binary matrix format (-dat / -cat / -info .mat.gz), with random instance, elevation, azimuth
  and lighting labels;
- Cars3D: the embedded `two-domain` cars at 128 x 128 over the real 24 azimuths x 4 elevations, a few cars
  as MATLAB `car_NNN_mesh.mat` files ("im": 128 x 128 x 3 x 24 x 4) in nips2015-analogy-data.tar.gz.

To stay fast, at most `unique` distinct images are rendered per set and repeated. With full=True
the dSprites and 3D Shapes label arrays are the complete factor grids in file order (as in the real
files) while the images are repeats of a few thousand rendered ones: right sizes and formats for
timing, but images and labels do not match there.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np

REAL_SIZES = {  # the real data sets' split sizes
    "mnist": (60000, 10000), "fashion-mnist": (60000, 10000),
    "binarized-mnist": (50000, 10000, 10000),
    "omniglot-iwae": (24345, 8070), "omniglot-official": ((30, 964), (20, 659)),  # (alphabets, characters)
    "dsprites": 737280, "shapes3d": 480000, "celeba": (162770, 19867, 19962), "cifar10": (50000, 10000),
    "smallnorb": (24300, 24300), "cars3d": 183,
}
DATASETS = ("mnist", "fashion-mnist", "binarized-mnist", "omniglot", "dsprites", "shapes3d", "celeba", "cifar10",
            "smallnorb", "cars3d")

#: CelebA's 40 attributes, in the order of list_attr_celeba.txt.
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young",
)
# portraits' hair colours (black, brown, blond, red, grey) -> CelebA attribute (red has none)
_HAIR_ATTRIBUTE = ("Black_Hair", "Brown_Hair", "Blond_Hair", None, "Gray_Hair")

# The official Omniglot alphabets (background = train, evaluation = test).
OMNIGLOT_BACKGROUND = (
    "Alphabet_of_the_Magi", "Anglo-Saxon_Futhorc", "Arcadian", "Armenian", "Asomtavruli_(Georgian)", "Balinese",
    "Bengali", "Blackfoot_(Canadian_Aboriginal_Syllabics)", "Braille", "Burmese_(Myanmar)", "Cyrillic",
    "Early_Aramaic", "Futurama", "Grantha", "Greek", "Gujarati", "Hebrew",
    "Inuktitut_(Canadian_Aboriginal_Syllabics)", "Japanese_(hiragana)", "Japanese_(katakana)", "Korean", "Latin",
    "Malay_(Jawi_-_Arabic)", "Mkhedruli_(Georgian)", "N_Ko", "Ojibwe_(Canadian_Aboriginal_Syllabics)", "Sanskrit",
    "Syriac_(Estrangelo)", "Tagalog", "Tifinagh",
)
OMNIGLOT_EVALUATION = (
    "Angelic", "Atemayar_Qelisayer", "Atlantean", "Aurek-Besh", "Avesta", "Ge_ez", "Glagolitic", "Gurmukhi",
    "Kannada", "Keble", "Malayalam", "Manipuri", "Mongolian", "Old_Church_Slavonic_(Cyrillic)", "Oriya", "Sylheti",
    "Syriac_(Serto)", "Tengwar", "Tibetan", "ULOG",
)
_OMNIGLOT_DRAWERS = 20

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
FULL_UNIQUE = 4096  # distinct images rendered per set with full=True (then repeated)


# ------------------------------------------------------------------------------------------------
# shared pieces


def _digits28(split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits laid out as MNIST's: scaled into a 20 x 20 box centred in 28 x 28, uint8."""
    import torch.nn.functional as F

    from helpers import data

    ds = data.load("digits", split=split, size=8)
    box = F.interpolate(ds.images, size=(20, 20), mode="bilinear", align_corners=False).clamp(0, 1)
    images = F.pad(box, (4, 4, 4, 4))[:, 0]
    return (images.numpy() * 255).round().astype(np.uint8), ds.labels.numpy().astype(np.uint8)


def _repeat_shifted(images: np.ndarray, labels: np.ndarray, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n images: the given ones in order, then repeats shifted by up to 2 pixels (so repeats differ)."""
    rows = np.arange(n) % len(images)
    out = images[rows].copy()
    if n > len(images):
        h, w = images.shape[1:]
        padded = np.pad(out[len(images):], ((0, 0), (2, 2), (2, 2)))
        shifts = rng.integers(0, 5, size=(n - len(images), 2))
        for dy in range(5):
            for dx in range(5):
                chosen = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
                out[len(images) + chosen] = padded[chosen, dy:dy + h, dx:dx + w]
    return out, labels[rows].copy()


def _gzip_bytes(payload: bytes, path: Path) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(payload)


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file as on LeCun's MNIST page: 0, 0, type code (0x08 = uint8), ndim, big-endian sizes, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    _gzip_bytes(header + array.tobytes(), path)


def _tile_rows(n: int, unique: int) -> np.ndarray:
    return np.arange(n) % max(1, min(n, unique))


# ------------------------------------------------------------------------------------------------
# one writer per data set; each returns the paths it wrote


def _mnist_arrays(n_train, n_test, seed, transpose=False):
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = _digits28(split)
        if transpose:
            images = images.transpose(0, 2, 1)
        out[split] = _repeat_shifted(images, labels, n, rng)
    return out


_MNIST_NAMES = {("train", "images"): "train-images-idx3-ubyte.gz", ("train", "labels"): "train-labels-idx1-ubyte.gz",
                ("test", "images"): "t10k-images-idx3-ubyte.gz", ("test", "labels"): "t10k-labels-idx1-ubyte.gz"}


def write_mnist(folder: Path, n_train: int, n_test: int, seed: int = 0, name: str = "mnist",
                mnist_from: Path | None = None) -> list[Path]:
    """The four gzipped IDX files of MNIST (or Fashion-MNIST with name="fashion-mnist")."""
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    written = []
    if mnist_from is not None:
        for filename in _MNIST_NAMES.values():
            source = _find_idx(Path(mnist_from), filename)
            destination = target / filename
            if source.suffix == ".gz":
                shutil.copyfile(source, destination)
            else:
                _gzip_bytes(source.read_bytes(), destination)
            written.append(destination)
        return written
    arrays = _mnist_arrays(n_train, n_test, seed, transpose=(name == "fashion-mnist"))
    for (split, kind), filename in _MNIST_NAMES.items():
        write_idx(target / filename, arrays[split][0 if kind == "images" else 1])
        written.append(target / filename)
    return written


def _find_idx(folder: Path, filename: str) -> Path:
    """A real MNIST file in `folder`, gzipped or not (train-images-idx3-ubyte[.gz], also train-images.idx3-ubyte)."""
    stem = filename[:-3]
    for candidate in (filename, stem, stem.replace("-idx", ".idx")):
        if (folder / candidate).exists():
            return folder / candidate
    raise FileNotFoundError(f"--mnist-from {folder}: no {filename} (or {stem}) there")


def write_binarized_mnist(folder: Path, n_train: int, n_test: int, seed: int = 0,
                          mnist_from: Path | None = None) -> list[Path]:
    """binarized_mnist_{train,valid,test}.amat: one image per line, 784 values "0"/"1" separated by spaces."""
    from helpers.data import formats

    if mnist_from is not None:  # the real images: 50,000 train / 10,000 valid from MNIST's train set, as Larochelle's
        train = formats.read_idx(_find_idx(Path(mnist_from), _MNIST_NAMES["train", "images"]))
        test = formats.read_idx(_find_idx(Path(mnist_from), _MNIST_NAMES["test", "images"]))
        parts = {"train": train[:min(n_train, 50000)], "valid": train[50000:50000 + n_test], "test": test[:n_test]}
    else:
        arrays = _mnist_arrays(n_train, 2 * n_test, seed + 1)
        test = arrays["test"][0]
        parts = {"train": arrays["train"][0], "valid": test[:n_test], "test": test[n_test:]}
    target = folder / "binarized-mnist"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for part, images in parts.items():
        bits = (images.reshape(len(images), -1) >= 128).astype(np.uint8)
        text = np.full((len(bits), 2 * bits.shape[1]), ord(" "), dtype=np.uint8)  # "b b b ... b\n" per row
        text[:, 0::2] = ord("0") + bits
        text[:, -1] = ord("\n")
        path = target / f"binarized_mnist_{part}.amat"
        path.write_bytes(text.tobytes())
        written.append(path)
    return written


def write_omniglot(folder: Path, n_train: int, n_test: int, seed: int = 0, full: bool = False,
                   unique: int = 256) -> list[Path]:
    """chardata.mat (the IWAE paper's 28 x 28 Omniglot) and images_background.zip / images_evaluation.zip."""
    from PIL import Image
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    target = folder / "omniglot"
    target.mkdir(parents=True, exist_ok=True)
    # chardata.mat: data / testdata are 784 x N, each image flattened in MATLAB's column-major order;
    # target / testtarget are 50 x N one-hot alphabets; targetchar / testtargetchar 1-based characters.
    mat = {}
    for prefix, split, n in (("", "train", n_train), ("test", "test", n_test)):
        images, labels = _digits28(split)
        images, labels = _repeat_shifted(images, labels, n, rng)
        alphabet = (labels.astype(np.int64) * 5 + rng.integers(0, 5, n)) % 50
        character = rng.integers(1, 21, n)
        mat[f"{prefix}data"] = np.stack([im.flatten(order="F") for im in images], axis=1).astype(np.float64) / 255
        mat[f"{prefix}target"] = np.eye(50)[alphabet].T
        mat[f"{prefix}targetchar"] = character[None].astype(np.float64)
    savemat(target / "chardata.mat", mat)
    written = [target / "chardata.mat"]
    # the official zips: <top>/<Alphabet>/characterNN/<id>_<drawer>.png, 105 x 105, black ink on white, 1 bit
    pool_images, _ = _digits28("train")
    pool = []
    for image in pool_images[:unique]:
        ink = np.asarray(Image.fromarray(image).resize((105, 105), Image.Resampling.BILINEAR)) >= 128
        buffer = io.BytesIO()
        Image.fromarray(np.where(ink, 0, 255).astype(np.uint8)).convert("1").save(buffer, "PNG")
        pool.append(buffer.getvalue())
    real_background, real_evaluation = REAL_SIZES["omniglot-official"]
    for top, alphabets, n, real in (("images_background", OMNIGLOT_BACKGROUND, n_train, real_background),
                                    ("images_evaluation", OMNIGLOT_EVALUATION, n_test, real_evaluation)):
        if full:
            n_alphabets, n_characters = real
            drawers = _OMNIGLOT_DRAWERS
        else:  # a few alphabets, ~n images in all
            n_alphabets = min(len(alphabets), 5)
            drawers = 4
            n_characters = max(n_alphabets, -(-n // drawers))
        per_alphabet = np.array_split(np.arange(n_characters), n_alphabets)
        path = target / f"{top}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(f"{top}/", "")
            for a, characters in enumerate(per_alphabet):
                for c, character in enumerate(characters):
                    for drawer in range(1, drawers + 1):
                        name = f"{top}/{alphabets[a]}/character{c + 1:02d}/{character + 1:04d}_{drawer:02d}.png"
                        zf.writestr(name, pool[(character * drawers + drawer) % len(pool)])
        written.append(path)
    return written


def _dsprites_values(classes: np.ndarray) -> np.ndarray:
    """latents_values of dSprites for latents_classes (N x 6: color, shape, scale, orientation, posX, posY)."""
    grids = (np.ones(1), np.arange(1.0, 4.0), np.linspace(0.5, 1.0, 6), np.linspace(0, 2 * np.pi, 40),
             np.linspace(0, 1, 32), np.linspace(0, 1, 32))
    return np.stack([grid[classes[:, k]] for k, grid in enumerate(grids)], axis=1)


def write_dsprites(folder: Path, n_train: int, n_test: int, seed: int = 0, full: bool = False,
                   unique: int = FULL_UNIQUE) -> list[Path]:
    """dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz: imgs (N x 64 x 64 uint8 0/1), latents_classes,
    latents_values (N x 6) and the pickled `metadata` dict, rows in grid order as in the real file."""
    from helpers.data import factors as grid, sprites

    if full:  # the whole grid in C order: color (1) x shape x scale x orientation x posX x posY
        factors = np.stack(np.unravel_index(np.arange(REAL_SIZES["dsprites"]), sprites.FACTOR_SIZES), 1)
        drawn = sprites.sample_factors(min(unique, len(factors)), seed).numpy()
        pictures = sprites.render(drawn).numpy()[:, 0].astype(np.uint8)
        imgs = pictures[_tile_rows(len(factors), len(pictures))]
    else:
        factors = np.concatenate([sprites.sample_factors(n_train, seed, "train").numpy(),
                                  sprites.sample_factors(n_test, seed, "test").numpy()])
        factors = factors[np.argsort(grid.flat_index(factors, sprites.FACTOR_SIZES), kind="stable")]
        imgs = sprites.render(factors).numpy()[:, 0].astype(np.uint8)
    classes = np.concatenate([np.zeros((len(factors), 1), np.int64), factors.astype(np.int64)], axis=1)
    metadata = {
        "title": "dSprites dataset", "version": "1", "date": "April 2017",
        "author": "stand-in written by tests/real_format_files.py",
        "description": "Disentanglement test Sprites dataset (format stand-in for tests)",
        "latents_names": ("color", "shape", "scale", "orientation", "posX", "posY"),
        "latents_sizes": np.array([1, 3, 6, 40, 32, 32]),
        "latents_possible_values": {"color": np.array([1.0]), "shape": np.arange(1.0, 4.0),
                                    "scale": np.linspace(0.5, 1, 6), "orientation": np.linspace(0, 2 * np.pi, 40),
                                    "posX": np.linspace(0, 1, 32), "posY": np.linspace(0, 1, 32)},
    }
    target = folder / "dsprites"
    target.mkdir(parents=True, exist_ok=True)
    path = target / DSPRITES_FILE
    np.savez_compressed(path, imgs=imgs, latents_classes=classes, latents_values=_dsprites_values(classes),
                        metadata=np.array(metadata, dtype=object))
    return [path]


def write_shapes3d(folder: Path, n_train: int, n_test: int, seed: int = 0, full: bool = False,
                   unique: int = 128) -> list[Path]:
    """3dshapes.h5: `images` (N x 64 x 64 x 3 uint8) and `labels` (N x 6 float64 factor values)."""
    import h5py

    from helpers.data import factors as grid, real, shapes

    if full:  # the whole grid in C order, images repeated from `unique` rendered scenes
        factors = np.stack(np.unravel_index(np.arange(REAL_SIZES["shapes3d"]), shapes.FACTOR_SIZES), 1)
        scenes = _uint8_hwc(shapes.render(shapes.sample_factors(min(unique, len(factors)), seed)))
        images = None  # repeats of `scenes`, written block by block
    else:  # `unique` rendered scenes per split, repeated with their factors, rows in grid order
        parts = []
        for split, n in (("train", n_train), ("test", n_test)):
            drawn = shapes.sample_factors(max(1, min(n, unique if split == "train" else max(1, unique // 4))),
                                          seed, split).numpy()
            parts.append((drawn[_tile_rows(n, len(drawn))], _tile_rows(n, len(drawn)), drawn))
        drawn = np.concatenate([p[2] for p in parts])
        scenes = _uint8_hwc(shapes.render(drawn))
        rows = np.concatenate([parts[0][1], len(parts[0][2]) + parts[1][1]])
        factors = drawn[rows]
        order = np.argsort(grid.flat_index(factors, shapes.FACTOR_SIZES), kind="stable")
        factors, images = factors[order], scenes[rows[order]]
    labels = np.stack([real.SHAPES3D_VALUES[k][factors[:, k]] for k in range(6)], axis=1)
    target = folder / "shapes3d"
    target.mkdir(parents=True, exist_ok=True)
    path = target / "3dshapes.h5"
    with h5py.File(path, "w") as f:
        out = f.create_dataset("images", shape=(len(labels), 64, 64, 3), dtype=np.uint8, compression="gzip",
                               chunks=(min(len(labels), 1000), 64, 64, 3), compression_opts=4)
        for start in range(0, len(labels), 20000):  # in blocks: all 480,000 images are 5.9 GB
            out[start:start + 20000] = images[start:start + 20000] if images is not None else \
                scenes[_tile_rows(len(labels), len(scenes))[start:start + 20000]]
        f.create_dataset("labels", data=labels)
    return [path]


def _uint8_hwc(images) -> np.ndarray:
    """N x C x H x W float tensor in [0, 1] -> N x H x W x C uint8."""
    return (images.numpy().transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)


def write_celeba(folder: Path, n_train: int, n_test: int, seed: int = 0, full: bool = False,
                 unique: int = 128) -> list[Path]:
    """img_align_celeba.zip (178 x 218 JPEGs), list_attr_celeba.txt (40 attributes, 1 / -1) and
    list_eval_partition.txt (0 train, 1 valid, 2 test)."""
    from PIL import Image

    from helpers.data import portraits

    counts = REAL_SIZES["celeba"] if full else (n_train, n_test, n_test)
    n = sum(counts)
    rng = np.random.default_rng(seed)
    drawn = portraits.sample_factors(min(n, unique), seed).numpy()
    faces = _uint8_hwc(portraits.render(drawn, size=64))
    jpegs = []
    for face in faces:  # the 148 x 148 centre the loader crops holds the portrait
        background = face[0, 0]
        canvas = np.empty((218, 178, 3), dtype=np.uint8)
        canvas[:] = background
        scaled = np.asarray(Image.fromarray(face).resize((148, 148), Image.Resampling.BILINEAR))
        top, left = (218 - 148) // 2, (178 - 148) // 2
        canvas[top:top + 148, left:left + 148] = scaled
        buffer = io.BytesIO()
        Image.fromarray(canvas).save(buffer, "JPEG", quality=90)
        jpegs.append(buffer.getvalue())
    source = _tile_rows(n, len(faces))
    attributes = np.where(rng.random((n, len(CELEBA_ATTRIBUTES))) < 0.3, 1, -1)
    column = {name: k for k, name in enumerate(CELEBA_ATTRIBUTES)}
    for attribute, factor in (("Eyeglasses", 0), ("Smiling", 1), ("Wearing_Hat", 2)):
        attributes[:, column[attribute]] = np.where(drawn[source, factor] > 0.5, 1, -1)
    hair = drawn[source, portraits.FACTOR_NAMES.index("hair_colour")].astype(int)
    for colour, attribute in enumerate(_HAIR_ATTRIBUTE):
        if attribute is not None:
            attributes[:, column[attribute]] = np.where(hair == colour, 1, -1)
    filenames = [f"{i + 1:06d}.jpg" for i in range(n)]
    target = folder / "celeba"
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target / "img_align_celeba.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("img_align_celeba/", "")
        for filename, k in zip(filenames, source):
            zf.writestr(f"img_align_celeba/{filename}", jpegs[k])
    with open(target / "list_attr_celeba.txt", "w") as f:  # values right-aligned in 3 columns, as in the file
        f.write(f"{n}\n" + " ".join(CELEBA_ATTRIBUTES) + " \n")
        for filename, row in zip(filenames, attributes):
            f.write(filename + "".join(f"{v:3d}" for v in row) + "\n")
    partition = np.repeat([0, 1, 2], counts)
    with open(target / "list_eval_partition.txt", "w", newline="") as f:  # CRLF, as the real file (14 bytes a line)
        f.writelines(f"{filename} {p}\r\n" for filename, p in zip(filenames, partition))
    return [target / "img_align_celeba.zip", target / "list_attr_celeba.txt", target / "list_eval_partition.txt"]


CIFAR10_LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def cifar10_tarball(path: Path, train: tuple, test: tuple, label_names=CIFAR10_LABEL_NAMES) -> Path:
    """cifar-10-python.tar.gz from (images N x 3 x 32 x 32 uint8, labels) per split: the train images in
    five batches data_batch_1..5, the test images in test_batch, and batches.meta, each a pickled
    dict with bytes keys (as Python 2 wrote them) under cifar-10-batches-py/."""
    import pickle
    import tarfile

    def batch(images, labels, title, first):
        return {b"batch_label": title.encode(), b"labels": [int(v) for v in labels],
                b"data": np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), 3072),
                b"filenames": [f"stand_in_s_{first + i:06d}.png".encode() for i in range(len(images))]}

    members = {}
    train_rows = np.array_split(np.arange(len(train[0])), 5)
    for k, rows in enumerate(train_rows):
        members[f"data_batch_{k + 1}"] = batch(train[0][rows], train[1][rows], f"training batch {k + 1} of 5",
                                               int(rows[0]) if len(rows) else 0)
    members["test_batch"] = batch(test[0], test[1], "testing batch 1 of 1", 0)
    members["batches.meta"] = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in label_names],
                               b"num_vis": 3072}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        folder_info = tarfile.TarInfo("cifar-10-batches-py")
        folder_info.type, folder_info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder_info)
        contents = {name: pickle.dumps(value, protocol=2) for name, value in members.items()}  # as the real files
        contents["readme.html"] = b'<meta http-equiv="refresh" ' \
            b'content="0; url=http://www.cs.toronto.edu/~kriz/cifar.html">\n'
        for name, payload in contents.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size, info.mode = len(payload), 0o644
            tar.addfile(info, io.BytesIO(payload))
    return path


def write_cifar10(folder: Path, n_train: int, n_test: int, seed: int = 0, full: bool = False,
                  unique: int = 128) -> list[Path]:
    """cifar-10-python.tar.gz: `portraits` at 32 x 32 (tiled from `unique` drawings) with random labels;
    full=True: uniformly random pixels and labels at the real sizes (content irrelevant, for timing)."""
    from helpers.data import portraits

    rng = np.random.default_rng(seed)
    parts = []
    for n in (n_train, n_test):
        if full:
            images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        else:
            drawn = portraits.render(portraits.sample_factors(max(1, min(n, unique)), seed + len(parts)), size=32)
            images = (drawn.numpy() * 255).round().astype(np.uint8)[_tile_rows(n, len(drawn))]
        parts.append((images, rng.integers(0, 10, n)))
    return [cifar10_tarball(folder / "cifar10" / "cifar-10-python.tar.gz", *parts)]


_NORB_MAGIC = {np.dtype("u1"): 0x1E3D4C55, np.dtype("<i4"): 0x1E3D4C54}


def write_norb_matrix(path: Path, array: np.ndarray) -> None:
    """A SmallNORB binary matrix, gzipped: int32 magic (byte or integer matrix), int32 ndim, max(3, ndim) int32
    sizes (unused ones 1), then the elements in C order, all little-endian."""
    array = np.ascontiguousarray(array, dtype=np.uint8 if array.dtype == np.uint8 else "<i4")
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = struct.pack("<ii", _NORB_MAGIC[array.dtype], array.ndim) + struct.pack(f"<{len(dims)}i", *dims)
    _gzip_bytes(header + array.tobytes(), path)


def write_smallnorb(folder: Path, n_train: int, n_test: int, seed: int = 0, full: bool = False,
                    unique: int = 64) -> list[Path]:
    """The six SmallNORB files: grey toys from `two-domain`, 96 x 96, both cameras the same image."""
    import torch
    import torch.nn.functional as F

    from helpers.data import two_domain

    rng = np.random.default_rng(seed)
    target = folder / "smallnorb"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    prefixes = {"train": "smallnorb-5x46789x9x18x6x2x96x96-training", "test": "smallnorb-5x01235x9x18x6x2x96x96-testing"}
    for (split, prefix), n in zip(prefixes.items(), (n_train, n_test)):
        m = max(1, min(n, unique))
        factors = np.full((m, 6), -1)
        factors[:, 0], factors[:, 1] = rng.integers(0, 16, m), rng.integers(0, 4, m)    # azimuth, elevation
        factors[:, 4], factors[:, 5] = rng.integers(0, 4, m), rng.integers(0, 4, m)    # category, lighting
        factors = torch.from_numpy(factors)
        grey = two_domain.render(factors, size=32).mean(1, keepdim=True)
        pixels = (F.interpolate(grey, size=(96, 96), mode="bilinear", align_corners=False).clamp(0, 1) * 255)
        pixels = pixels.round().to(torch.uint8).numpy()[_tile_rows(n, len(grey))]            # N x 1 x 96 x 96
        category = factors[:, 4].numpy()[_tile_rows(n, len(grey))]
        instances = np.array([4, 6, 7, 8, 9] if split == "train" else [0, 1, 2, 3, 5])
        info = np.stack([rng.choice(instances, n), rng.integers(0, 9, n), 2 * rng.integers(0, 18, n),
                         rng.integers(0, 6, n)], axis=1)
        for part, array in (("dat", np.repeat(pixels, 2, axis=1)), ("cat", category), ("info", info)):
            path = target / f"{prefix}-{part}.mat.gz"
            write_norb_matrix(path, array.astype(np.uint8) if part == "dat" else array.astype(np.int32))
            written.append(path)
    return written


def write_cars3d(folder: Path, n_cars: int = 3, seed: int = 0) -> list[Path]:
    """nips2015-analogy-data.tar.gz with data/cars/list.txt and `n_cars` car_NNN_mesh.mat files ("im":
    128 x 128 x 3 x 24 azimuths x 4 elevations uint8, "mask": 128 x 128 x 24 x 4), as MATLAB v5 files."""
    import tarfile

    import scipy.io
    import torch
    import torch.nn.functional as F

    from helpers.data import two_domain

    names, payloads = [], {}
    azimuths = np.arange(24) * 16 // 24                       # the 24 views onto two-domain's 16 azimuths
    for car in range(n_cars):
        grid = np.stack(np.meshgrid(azimuths, np.arange(4), indexing="ij"), -1).reshape(-1, 2)   # azimuth-major
        factors = np.full((len(grid), 6), -1)
        factors[:, :2], factors[:, 2], factors[:, 3] = grid, car % 3, (car + seed) % 6
        images = F.interpolate(two_domain.render(factors, size=32), size=(128, 128), mode="bilinear",
                               align_corners=False).clamp(0, 1)
        images = (images * 255).round().to(torch.uint8).numpy().reshape(24, 4, 3, 128, 128)
        name = f"car_{car + 1:03d}_mesh"
        buffer = io.BytesIO()
        scipy.io.savemat(buffer, {"im": images.transpose(3, 4, 2, 0, 1),                   # H x W x 3 x az x el
                                  "mask": (images.mean(2) < 230).astype(np.uint8).transpose(2, 3, 0, 1)})
        names.append(name)
        payloads[f"data/cars/{name}.mat"] = buffer.getvalue()
    payloads["data/cars/list.txt"] = ("\n".join(names) + "\n").encode()
    target = folder / "cars3d"
    target.mkdir(parents=True, exist_ok=True)
    path = target / "nips2015-analogy-data.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member, payload in payloads.items():
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(payload), 0o644
            tar.addfile(info, io.BytesIO(payload))
    return [path]


# ------------------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def write_real_format_files(folder, n_train: int = 300, n_test: int = 100, *, full: bool = False, seed: int = 0,
                            mnist_from=None, only=None, jobs: int = 1) -> dict:
    """Write every real data set's files (or those in `only`) into `folder` in the real formats, and
    `checksums.json`, the override of their pinned checksums. Returns the environment that makes
    the real loaders use them: {"COURSE_DATA_DIR": folder, "COURSE_TEST_CHECKSUMS": folder/checksums.json}.

    n_train / n_test: images per split (CelebA's valid split gets n_test too); full=True writes the
    real data sets' sizes instead. mnist_from: a folder with the real MNIST IDX files to copy
    (binarised MNIST is then thresholded from them). jobs: data sets written in parallel processes.
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    mnist_from = Path(mnist_from) if mnist_from else None
    chosen = DATASETS if only is None else tuple(only)
    unknown = set(chosen) - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown data set(s) {sorted(unknown)}: choose from {', '.join(DATASETS)}")

    checksums_path = folder / "checksums.json"
    tasks = [(name, folder, n_train, n_test, full, seed, mnist_from) for name in chosen]
    if jobs > 1 and len(tasks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_write_set, tasks))
    else:
        results = [_write_set(task) for task in tasks]
    with open(folder / ".checksums.lock", "w") as lock:
        _lock(lock)  # several writers (e.g. --only in parallel) may update checksums.json at once
        checksums = json.loads(checksums_path.read_text()) if checksums_path.exists() else {}
        for result in results:
            checksums.update(result)
        partial = folder / f".checksums.json.partial-{os.getpid()}"
        partial.write_text(json.dumps(checksums, indent=1, sort_keys=True) + "\n")
        os.replace(partial, checksums_path)
    return {"COURSE_DATA_DIR": str(folder), "COURSE_TEST_CHECKSUMS": str(checksums_path)}


def _lock(handle) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: one writer at a time is the caller's business
        return
    fcntl.flock(handle, fcntl.LOCK_EX)


def _write_set(task) -> dict:
    """Write one data set's files; return {"<subdir>/<filename>": "sha256:<hex>"} for them."""
    name, folder, n_train, n_test, full, seed, mnist_from = task
    if name in ("mnist", "fashion-mnist"):
        sizes = REAL_SIZES[name] if full else (n_train, n_test)
        written = write_mnist(folder, *sizes, seed, name, mnist_from if name == "mnist" else None)
    elif name == "binarized-mnist":
        written = write_binarized_mnist(folder, *((50000, 10000) if full else (n_train, n_test)), seed, mnist_from)
    elif name == "omniglot":
        written = write_omniglot(folder, *(REAL_SIZES["omniglot-iwae"] if full else (n_train, n_test)), seed, full)
    elif name == "dsprites":
        written = write_dsprites(folder, n_train, n_test, seed, full, unique=FULL_UNIQUE)
    elif name == "shapes3d":
        written = write_shapes3d(folder, n_train, n_test, seed, full, unique=FULL_UNIQUE if full else 48)
    elif name == "cifar10":
        written = write_cifar10(folder, *(REAL_SIZES["cifar10"] if full else (n_train, n_test)), seed, full)
    elif name == "smallnorb":
        written = write_smallnorb(folder, *(REAL_SIZES["smallnorb"] if full else (n_train, n_test)), seed, full)
    elif name == "cars3d":
        written = write_cars3d(folder, REAL_SIZES["cars3d"] if full else 3, seed)
    else:
        written = write_celeba(folder, n_train, n_test, seed, full, unique=FULL_UNIQUE if full else 128)
    return {path.relative_to(folder).as_posix(): sha256(path) for path in written}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.real_format_files", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder to write (becomes COURSE_DATA_DIR)")
    parser.add_argument("--full", action="store_true", help="the real data sets' sizes (minutes, gigabytes)")
    parser.add_argument("--mnist-from", metavar="DIR", help="copy the real MNIST IDX files (gzipped or not) from DIR")
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--only", help=f"comma-separated subset of: {','.join(DATASETS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="data sets written in parallel (processes)")
    args = parser.parse_args(argv)
    env = write_real_format_files(args.out_dir, args.n_train, args.n_test, full=args.full, seed=args.seed,
                                  mnist_from=args.mnist_from, only=args.only.split(",") if args.only else None,
                                  jobs=args.jobs)
    for key, value in env.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
