"""Parsers for the real data sets' file formats. Each works on a path and never downloads.

They return NumPy arrays exactly as stored (uint8 pixels, raw label values); the loaders in
`real.py` turn them into the course's tensors.
"""
from __future__ import annotations

import codecs
import gzip
import io
import os
import pickle
import re
import tarfile
import zipfile
from pathlib import Path

import numpy as np

# IDX type codes (LeCun's MNIST page): the third byte of the magic number.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open_maybe_gzip(path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST / Fashion-MNIST), gzipped or raw, into an array of its stored shape.

    Layout: 2 zero bytes, a type code, the number of dimensions d, then d big-endian uint32 sizes,
    then the values in C order.
    """
    with _open_maybe_gzip(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (its magic number does not start with two zero bytes)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header says {shape} ({expected} bytes of data) "
                         f"but the file holds {len(data) - offset}")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def read_amat(path: str | os.PathLike) -> np.ndarray:
    """Read a Larochelle-style .amat text file (one example per line, space-separated numbers)."""
    values = np.loadtxt(path, dtype=np.float32, ndmin=2)
    return values


def read_omniglot_mat(path: str | os.PathLike) -> dict:
    """Read the 28x28 Omniglot of the IWAE paper (`chardata.mat`, also used by VHP and VampPrior).

    The file stores each image as a 784-column of `data` / `testdata`, flattened in column-major
    (MATLAB) order, so a row-major reshape gives the transposed character: we transpose it back.
    Returns images (N x 28 x 28 float in [0, 1]), alphabet (0..49) and character (within its
    alphabet, 0-based) for the "train" and "test" parts.
    """
    from scipy.io import loadmat

    mat = loadmat(path)
    out = {}
    for part, prefix in (("train", ""), ("test", "test")):
        flat = np.asarray(mat[f"{prefix}data"], dtype=np.float32).T
        images = flat.reshape(-1, 28, 28).transpose(0, 2, 1)
        alphabet = np.asarray(mat[f"{prefix}target"]).argmax(axis=0).astype(np.int64)
        character = np.asarray(mat[f"{prefix}targetchar"]).reshape(-1).astype(np.int64) - 1
        out[part] = {"images": np.ascontiguousarray(images), "alphabet": alphabet, "character": character}
    return out


_OMNIGLOT_NAME = re.compile(r"^(?:[^/]+/)?([^/]+)/(character\d+)/([^/]+\.png)$")


def read_omniglot_zip(path: str | os.PathLike) -> dict:
    """Read an official Omniglot archive (`images_background.zip` / `images_evaluation.zip`).

    Layout: <top>/<Alphabet>/characterNN/<id>_<drawer>.png, 105 x 105 black strokes on white.
    Returns images (N x H x W uint8, 1 = stroke: inverted so ink is "on" as in MNIST), alphabet
    and character (global index over all characters in the file) labels, and alphabet_names.
    Images are read straight from the archive, nothing is extracted.
    """
    from PIL import Image

    entries = []
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            match = _OMNIGLOT_NAME.match(name.replace("\\", "/"))
            if match:
                entries.append((match.group(1), match.group(2), match.group(3), name))
        if not entries:
            raise ValueError(f"{path} has no <alphabet>/characterNN/*.png members: is it an Omniglot images_*.zip?")
        entries.sort()
        alphabet_names = sorted({e[0] for e in entries})
        character_keys = sorted({(e[0], e[1]) for e in entries})
        character_index = {key: i for i, key in enumerate(character_keys)}
        images = []
        for _, _, _, name in entries:
            with Image.open(io.BytesIO(zf.read(name))) as im:
                images.append(np.asarray(im.convert("L")) < 128)  # ink is dark
    return {
        "images": np.stack(images).astype(np.uint8),
        "alphabet": np.array([alphabet_names.index(e[0]) for e in entries], dtype=np.int64),
        "character": np.array([character_index[(e[0], e[1])] for e in entries], dtype=np.int64),
        "alphabet_names": alphabet_names,
    }


def read_dsprites_npz(path: str | os.PathLike) -> dict:
    """Read dSprites' npz: imgs (N x 64 x 64 uint8 0/1), latents_values (N x 6), latents_classes (N x 6).

    The latent columns are color, shape, scale, orientation, posX, posY. The archive's `metadata`
    entry is a pickled object; it is not read (loading pickles from a download can run code).
    """
    with np.load(path, allow_pickle=False) as npz:
        missing = {"imgs", "latents_values", "latents_classes"} - set(npz.files)
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}: is it dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz?")
        return {
            "imgs": npz["imgs"],
            "latents_values": npz["latents_values"],
            "latents_classes": npz["latents_classes"],
        }


def read_shapes3d_h5(path: str | os.PathLike, indices: np.ndarray | None = None, images: bool = True) -> dict:
    """Read 3D Shapes' h5: images (N x 64 x 64 x 3 uint8) and labels (N x 6 float factor values).

    `indices` (sorted, unique) reads only those rows: the full file is 480,000 images (5.9 GB
    uncompressed); images=False reads only the labels. Needs h5py (`pip install h5py`).
    """
    try:
        import h5py
    except ImportError as error:
        raise ImportError(
            "reading 3D Shapes needs h5py, an optional dependency: pip install h5py"
        ) from error
    with h5py.File(path, "r") as f:
        missing = {"images", "labels"} - set(f.keys())
        if missing:
            raise ValueError(f"{path} lacks the datasets {sorted(missing)}: is it 3dshapes.h5?")
        if indices is None:
            rows = slice(None)
        else:
            rows = np.asarray(indices)
            if np.any(np.diff(rows) <= 0):
                raise ValueError("indices must be sorted and unique (h5py reads rows in increasing order)")
        out = {"labels": f["labels"][rows]}
        if images:
            out["images"] = f["images"][rows] if indices is None else _read_rows(f["images"], rows)
        return out


def _read_rows(dataset, rows: np.ndarray, block: int = 16384) -> np.ndarray:
    """dataset[rows] for sorted rows, read block by block: h5py's point selection is slow on large
    compressed files, contiguous slices are fast."""
    out = np.empty((len(rows),) + dataset.shape[1:], dtype=dataset.dtype)
    done = 0
    for start in range(0, int(rows[-1]) + 1 if len(rows) else 0, block):
        stop = start + block
        take = rows[done:np.searchsorted(rows, stop)]
        if len(take):
            out[done:done + len(take)] = dataset[start:min(stop, int(take[-1]) + 1)][take - start]
            done += len(take)
    return out


def read_celeba_attributes(path: str | os.PathLike) -> dict:
    """Read CelebA's `list_attr_celeba.txt`.

    Layout: the number of images, a line of 40 attribute names, then one line per image:
    "<file>.jpg" and 40 values of 1 or -1. Returns filenames, attributes (N x 40 uint8, 1 = has
    it) and names.
    """
    with open(path, "r") as f:
        count = int(f.readline().strip())
        names = f.readline().split()
        rows = [line.split() for line in f if line.strip()]
    if len(rows) != count:
        raise ValueError(f"{path}: header announces {count} images but {len(rows)} lines follow")
    bad = [r[0] for r in rows if len(r) != len(names) + 1]
    if bad:
        raise ValueError(f"{path}: {len(bad)} lines do not have {len(names)} values (first: {bad[0]})")
    values = np.array([r[1:] for r in rows], dtype=np.int8)
    return {"filenames": [r[0] for r in rows], "attributes": (values > 0).astype(np.uint8), "names": names}


def read_celeba_partition(path: str | os.PathLike) -> dict:
    """Read CelebA's `list_eval_partition.txt`: "<file>.jpg <0|1|2>" (train / valid / test)."""
    rows = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    return {"filenames": [r[0] for r in rows], "partition": np.array([int(r[1]) for r in rows], dtype=np.int64)}


# ------------------------------------------------------------------------------------------------
# CIFAR-10, python version (cifar-10-python.tar.gz)

CIFAR10_FOLDER = "cifar-10-batches-py"  # the tarball's top folder
CIFAR10_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR10_PIXELS = 3 * 32 * 32  # a row of `data`: 1024 red, then 1024 green, then 1024 blue values, row-major


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that can build only what CIFAR-10's batches hold: dicts, lists, ints, bytes and
    uint8 NumPy arrays. Any other global (os.system, builtins.eval, ...) is refused, so a tampered
    file cannot run code through `pickle` even if it got this far (the checksum is the first guard)."""

    # (module, name) -> object. The real files were pickled by Python 2 (numpy.core.multiarray);
    # files pickled by NumPy 2 name numpy._core.multiarray; Python 3 pickles bytes under protocol 2
    # as _codecs.encode(str, "latin1").
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
        ("numpy._core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"CIFAR-10 batches hold only arrays, lists and bytes; refusing to load the global {module}.{name}"
            ) from None


def _cifar10_unpickle(archive: tarfile.TarFile, member: tarfile.TarInfo, path) -> dict:
    if not member.isfile():
        raise ValueError(f"{path}: {member.name} is not a regular file")
    with archive.extractfile(member) as f:
        try:
            # encoding="bytes": the batches were pickled by Python 2, whose str keys become bytes here
            batch = _CifarUnpickler(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}: {member.name} is not a CIFAR-10 batch pickle: {error}") from error
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: {member.name} holds a {type(batch).__name__}, not the batch dict")
    return batch


def read_cifar10_tarball(path: str | os.PathLike, split: str = "train") -> dict:
    """Read CIFAR-10's python version (`cifar-10-python.tar.gz`) straight from the tarball.

    Layout (Krizhevsky's CIFAR page): cifar-10-batches-py/data_batch_1..5 (train, 10,000 images each),
    test_batch (10,000) and batches.meta, each a Python 2 pickle of a dict: b"data" a 10000 x 3072
    uint8 array (per row the 32 x 32 red plane, then green, then blue, each row-major), b"labels" a
    list of ints 0-9; batches.meta's b"label_names" names the classes.
    Returns images (N x 3 x 32 x 32 uint8), labels (N int64) and label_names.

    Pickle can run code while loading. Give this function only a file whose checksum matched the
    pinned one (`real.load_cifar10` reads only what `fetch` verified); as a second guard the
    unpickler builds nothing but arrays, lists, ints and bytes (see `_CifarUnpickler`).
    Nothing is extracted to disk; the archive is read in one pass (members come in any order).
    """
    if split not in CIFAR10_BATCHES:
        raise ValueError("cifar10: split must be 'train' or 'test'")
    wanted = {f"{CIFAR10_FOLDER}/{name}": name for name in CIFAR10_BATCHES[split] + ("batches.meta",)}
    found = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            # one pass: seeking back in a gzip stream would decompress it again from the start
            for member in archive:
                if member.name in wanted:
                    found[wanted[member.name]] = _cifar10_unpickle(archive, member, path)
                    if len(found) == len(wanted):
                        break
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"{path} is not a gzipped tar archive: is it cifar-10-python.tar.gz? ({error})") from error
    missing = [f"{CIFAR10_FOLDER}/{name}" for name in wanted.values() if name not in found]
    if missing:
        raise ValueError(f"{path} has no {', '.join(missing)}: is it cifar-10-python.tar.gz (the python version)?")
    images, labels = [], []
    for name in CIFAR10_BATCHES[split]:  # train: batches 1..5 in order, as every CIFAR-10 loader concatenates them
        data, batch_labels = found[name].get(b"data"), found[name].get(b"labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != CIFAR10_PIXELS:
            raise ValueError(f"{path}: {name}'s b'data' must be a uint8 array of N x {CIFAR10_PIXELS}, "
                             f"found {getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
        if not isinstance(batch_labels, list) or len(batch_labels) != len(data) \
                or not all(isinstance(v, int) and 0 <= v < 10 for v in batch_labels):
            raise ValueError(f"{path}: {name}'s b'labels' must be a list of {len(data)} ints in 0..9")
        images.append(data.reshape(-1, 3, 32, 32))  # row = R plane, G plane, B plane: C x H x W as stored
        labels.append(np.asarray(batch_labels, dtype=np.int64))
    names = found["batches.meta"].get(b"label_names")
    if not isinstance(names, list) or len(names) != 10 or not all(isinstance(v, bytes) for v in names):
        raise ValueError(f"{path}: batches.meta's b'label_names' must be a list of 10 names")
    return {"images": np.concatenate(images), "labels": np.concatenate(labels),
            "label_names": tuple(v.decode("ascii") for v in names)}


# --- SmallNORB and Cars3D (the Local VAE paper's CarsNORB) --------------------------------------------
# LeCun's binary matrix format (https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/): a little-endian int32
# magic number giving the element type, an int32 number of dimensions, then max(3, ndim) int32 sizes (unused
# ones are 1), then the elements in C order.
_NORB_DTYPES = {
    0x1E3D4C55: np.dtype("u1"),    # byte matrix (the -dat files: images)
    0x1E3D4C54: np.dtype("<i4"),   # integer matrix (the -cat and -info files: labels)
    0x1E3D4C51: np.dtype("<f4"),   # single-precision matrix
    0x1E3D4C53: np.dtype("<f8"),   # double-precision matrix
    0x1E3D4C56: np.dtype("<i2"),   # short matrix
}


def read_norb_matrix(path: str | os.PathLike) -> np.ndarray:
    """One SmallNORB file (.mat, gzipped or not: not a MATLAB file) as an array of its stored shape."""
    with _open_maybe_gzip(path) as f:
        data = f.read()
    if len(data) < 20:
        raise ValueError(f"{path} is too short for a NORB matrix header")
    magic, ndim = (int(v) for v in np.frombuffer(data, dtype="<i4", count=2))
    if magic not in _NORB_DTYPES:
        raise ValueError(f"{path} is not a NORB binary matrix (magic number 0x{magic & 0xFFFFFFFF:08X})")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype="<i4", count=ndim, offset=8))
    offset = 8 + 4 * max(3, ndim)
    dtype = _NORB_DTYPES[magic]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header says {shape} ({expected} bytes of data) but the file holds "
                         f"{len(data) - offset}")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


_CARS_MEMBER = re.compile(r"^(?:\./)?data/cars/(car_\d+_mesh)\.mat$")


def read_cars3d_tarball(path: str | os.PathLike) -> dict:
    """Reed et al.'s nips2015-analogy-data.tar.gz, read without extracting: the 183 Cars3D renderings.

    Each data/cars/car_NNN_mesh.mat (MATLAB v5) holds "im", 128 x 128 x 3 x 24 azimuths x 4 elevations
    (uint8). Returns {"images": N x 128 x 128 x 3 uint8, "factors": N x 3 int64 (elevation, azimuth,
    car), "names": the car files in sorted order}; car k is the k-th name.
    """
    import scipy.io

    images, factors, names = [], [], []
    with tarfile.open(path, "r:*") as archive:
        members = sorted((m for m in archive.getmembers() if m.isfile() and _CARS_MEMBER.match(m.name)),
                         key=lambda m: m.name)
        if not members:
            raise ValueError(f"{path} holds no data/cars/car_*_mesh.mat files: is it nips2015-analogy-data.tar.gz?")
        for car, member in enumerate(members):
            im = scipy.io.loadmat(io.BytesIO(archive.extractfile(member).read()))["im"]
            if im.ndim != 5 or im.shape[2] != 3:
                raise ValueError(f"{member.name}: 'im' has shape {im.shape}, expected H x W x 3 x azimuths x elevations")
            n_azimuth, n_elevation = im.shape[3], im.shape[4]
            # -> elevation x azimuth x H x W x 3, so rows run over (elevation, azimuth) in C order
            images.append(np.ascontiguousarray(im.transpose(4, 3, 0, 1, 2)).reshape(-1, *im.shape[:3]))
            grid = np.stack(np.meshgrid(np.arange(n_elevation), np.arange(n_azimuth), indexing="ij"), -1).reshape(-1, 2)
            factors.append(np.concatenate([grid, np.full((len(grid), 1), car)], axis=1))
            names.append(_CARS_MEMBER.match(member.name).group(1))
    return {"images": np.concatenate(images).astype(np.uint8), "factors": np.concatenate(factors).astype(np.int64),
            "names": names}
