"""Tests of the real-data side of helpers.data: file parsers, the download cache, and the loaders.

Nothing here touches the network: every file is written by the test in the real format, and
downloads come from file:// URLs or a patched `download_url`.
"""
import dataclasses
import gzip
import io
import json
import os
import struct
import sys
import urllib.error
import warnings
import zipfile

import numpy as np
import pytest
import torch

from helpers import data
from helpers.data import download, formats, real
from helpers.data.download import ChecksumMismatchError, DataUnavailableError, RemoteFile, UnsafeArchiveError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty data cache in a temporary folder, downloads allowed."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    return tmp_path / "cache"


def write_idx(path, array, gz=False):
    code = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}[array.dtype]
    payload = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(payload)


def sha256(path):
    return "sha256:" + download.file_checksum(path)


def place(monkeypatch, name, filename, path_in_cache):
    """Pin `filename` of data set `name` to the checksum of a file the test put in the cache."""
    remote = real.REMOTE_FILES[name][filename]
    monkeypatch.setitem(real.REMOTE_FILES[name], filename, dataclasses.replace(remote, checksum=sha256(path_in_cache)))


# ---------------------------------------------------------------------------------------------
# parsers


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips_images_and_labels(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=">i4")
    write_idx(tmp_path / "images", images, gz)
    write_idx(tmp_path / "labels", labels, gz)
    assert np.array_equal(formats.read_idx(tmp_path / "images"), images)
    read = formats.read_idx(tmp_path / "labels")
    assert read.tolist() == [3, 1, 4, 1, 5] and read.dtype.isnative
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        formats.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says"):
        formats.read_idx(tmp_path / "short")


def test_read_amat(tmp_path):
    rows = np.random.default_rng(1).integers(0, 2, (4, 784))
    (tmp_path / "x.amat").write_text("\n".join(" ".join(map(str, r)) for r in rows) + "\n")
    assert np.array_equal(formats.read_amat(tmp_path / "x.amat"), rows)


def test_read_omniglot_mat_undoes_matlab_column_order(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    images = rng.random((6, 28, 28))
    alphabets, characters = np.array([0, 0, 1, 2, 2, 2]), np.array([1, 2, 1, 1, 2, 3])
    one_hot = np.eye(3)[alphabets].T  # 3 alphabets x N, as in chardata.mat
    columns = np.stack([im.flatten(order="F") for im in images], axis=1)  # 784 x N, MATLAB's layout
    savemat(tmp_path / "chardata.mat", {"data": columns, "target": one_hot, "targetchar": characters[None],
                                        "testdata": columns[:, :2], "testtarget": one_hot[:, :2],
                                        "testtargetchar": characters[None, :2]})
    parsed = formats.read_omniglot_mat(tmp_path / "chardata.mat")
    assert np.allclose(parsed["train"]["images"], images)
    assert parsed["train"]["alphabet"].tolist() == alphabets.tolist()
    assert parsed["train"]["character"].tolist() == (characters - 1).tolist()
    assert len(parsed["test"]["images"]) == 2


def omniglot_zip(path, top="images_background"):
    """A miniature official Omniglot archive: 2 alphabets, 3 characters, 2 drawers each."""
    from PIL import Image

    drawings = {}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{top}/", "")
        for alphabet, characters in (("Greek", (1, 2)), ("Armenian", (1,))):
            for character in characters:
                for drawer in (1, 2):
                    ink = np.zeros((105, 105), dtype=bool)
                    ink[10 * character:10 * character + 5, 7 * drawer:7 * drawer + 30] = True
                    buffer = io.BytesIO()
                    Image.fromarray(np.where(ink, 0, 255).astype(np.uint8)).convert("1").save(buffer, "PNG")
                    name = f"{top}/{alphabet}/character{character:02d}/{character:04d}_{drawer:02d}.png"
                    zf.writestr(name, buffer.getvalue())
                    drawings[name] = ink
    return drawings


def test_read_omniglot_zip_reads_strokes_and_labels(tmp_path):
    drawings = omniglot_zip(tmp_path / "images_background.zip")
    parsed = formats.read_omniglot_zip(tmp_path / "images_background.zip")
    assert parsed["images"].shape == (6, 105, 105) and parsed["images"].dtype == np.uint8
    assert parsed["alphabet_names"] == ["Armenian", "Greek"]
    assert parsed["alphabet"].tolist() == [0, 0, 1, 1, 1, 1]
    assert parsed["character"].tolist() == [0, 0, 1, 1, 2, 2]
    expected = [drawings[k] for k in sorted(drawings)]  # sorted member names = reading order
    assert np.array_equal(parsed["images"], np.stack(expected).astype(np.uint8))  # ink = 1


def test_read_dsprites_npz_skips_the_pickled_metadata(tmp_path):
    imgs = np.random.default_rng(3).integers(0, 2, (4, 64, 64), dtype=np.uint8)
    classes = np.array([[0, 0, 1, 2, 3, 4], [0, 2, 5, 39, 31, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    np.savez(tmp_path / "d.npz", imgs=imgs, latents_classes=classes, latents_values=classes * 0.5,
             metadata=np.array({"description": "pickled"}, dtype=object))
    parsed = formats.read_dsprites_npz(tmp_path / "d.npz")
    assert np.array_equal(parsed["imgs"], imgs) and np.array_equal(parsed["latents_classes"], classes)
    np.savez(tmp_path / "wrong.npz", images=imgs)
    with pytest.raises(ValueError, match="lacks"):
        formats.read_dsprites_npz(tmp_path / "wrong.npz")


def shapes3d_h5(path, n=40, seed=4):
    import h5py

    rng = np.random.default_rng(seed)
    index = np.stack([rng.integers(0, s, n) for s in (10, 10, 10, 8, 4, 15)], axis=1)
    values = np.stack([real.SHAPES3D_VALUES[k][index[:, k]] for k in range(6)], axis=1)
    images = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, chunks=(4, 64, 64, 3), compression="gzip")
        f.create_dataset("labels", data=values)
    return images, values, index


def test_read_shapes3d_h5_reads_all_or_chosen_rows(tmp_path):
    images, values, index = shapes3d_h5(tmp_path / "3dshapes.h5")
    everything = formats.read_shapes3d_h5(tmp_path / "3dshapes.h5")
    assert np.array_equal(everything["images"], images) and np.allclose(everything["labels"], values)
    rows = np.array([0, 3, 4, 17, 38])
    chosen = formats.read_shapes3d_h5(tmp_path / "3dshapes.h5", indices=rows)
    assert np.array_equal(chosen["images"], images[rows])
    import h5py

    with h5py.File(tmp_path / "3dshapes.h5", "r") as f:  # small blocks: rows spread over many blocks
        assert np.array_equal(formats._read_rows(f["images"], rows, block=3), images[rows])
    assert "images" not in formats.read_shapes3d_h5(tmp_path / "3dshapes.h5", images=False)
    assert np.array_equal(real.shapes3d_indices(values), index)
    with pytest.raises(ValueError, match="sorted"):
        formats.read_shapes3d_h5(tmp_path / "3dshapes.h5", indices=np.array([3, 1]))


def test_shapes3d_without_h5py_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` fail
    with pytest.raises(ImportError, match="pip install h5py"):
        formats.read_shapes3d_h5(tmp_path / "3dshapes.h5")


NAMES = ["5_o_Clock_Shadow", "Eyeglasses", "Smiling", "Wearing_Hat"]


def celeba_texts(folder, n=3):
    rows = [("1", "-1", "1", "-1"), ("-1", "1", "1", "1"), ("-1", "-1", "-1", "1")][:n]
    lines = [str(n), " ".join(NAMES)] + [f"{i + 1:06d}.jpg " + "  ".join(r) for i, r in enumerate(rows)]
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (folder / "list_eval_partition.txt").write_text("".join(f"{i + 1:06d}.jpg {p}\n" for i, p in
                                                              zip(range(n), (0, 0, 2))))
    return (np.array(rows, dtype=int) > 0).astype(np.uint8)


def test_read_celeba_attributes_and_partition(tmp_path):
    expected = celeba_texts(tmp_path)
    parsed = formats.read_celeba_attributes(tmp_path / "list_attr_celeba.txt")
    assert parsed["names"] == NAMES and parsed["filenames"] == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert np.array_equal(parsed["attributes"], expected)
    partition = formats.read_celeba_partition(tmp_path / "list_eval_partition.txt")
    assert partition["partition"].tolist() == [0, 0, 2]
    (tmp_path / "broken.txt").write_text("5\n" + " ".join(NAMES) + "\n000001.jpg 1 1 1 1\n")
    with pytest.raises(ValueError, match="announces 5"):
        formats.read_celeba_attributes(tmp_path / "broken.txt")


# ---------------------------------------------------------------------------------------------
# download cache


def remote_for(tmp_path, content=b"course data\n" * 100, name="file.bin"):
    source = tmp_path / "server" / name
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(content)
    return source, RemoteFile(name, (source.as_uri(),), sha256(source), "toy", len(content))


def test_fetch_downloads_verifies_and_keeps_nothing_partial(tmp_path, cache):
    source, remote = remote_for(tmp_path)
    path = download.fetch(remote, progress=False)
    assert path == cache / "toy" / "file.bin" and path.read_bytes() == source.read_bytes()
    assert os.listdir(cache / "toy") == ["file.bin"]
    source.unlink()  # cached now: no second download
    assert download.fetch(remote, progress=False) == path


def test_md5_pins_work_too(tmp_path, cache):
    source, remote = remote_for(tmp_path)
    md5 = dataclasses.replace(remote, checksum="md5:" + download.file_checksum(source, "md5"))
    assert download.fetch(md5, progress=False).exists()


def test_checksum_mismatch_names_file_checksum_url_and_folder(tmp_path, cache):
    source, remote = remote_for(tmp_path)
    wrong = dataclasses.replace(remote, checksum="sha256:" + "0" * 64)
    with pytest.raises(ChecksumMismatchError) as error:
        download.fetch(wrong, progress=False)
    message = str(error.value)
    for part in ("file.bin", "0" * 64, source.as_uri(), str(cache / "toy")):
        assert part in message
    assert not (cache / "toy" / "file.bin").exists() and os.listdir(cache / "toy") == []


def test_a_wrong_file_put_in_the_cache_is_refused(tmp_path, cache):
    _, remote = remote_for(tmp_path)
    (cache / "toy").mkdir(parents=True)
    (cache / "toy" / "file.bin").write_bytes(b"something else")
    with pytest.raises(ChecksumMismatchError, match="Delete it"):
        download.fetch(remote, progress=False)


def test_offline_error_says_what_to_put_where(tmp_path, cache, monkeypatch):
    _, remote = remote_for(tmp_path)
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as error:
        download.fetch(remote, progress=False)
    message = str(error.value)
    for part in ("file.bin", remote.checksum, remote.urls[0], str(cache / "toy")):
        assert part in message
    assert isinstance(error.value, FileNotFoundError)


def test_network_failure_mid_download_leaves_no_file(tmp_path, cache, monkeypatch):
    _, remote = remote_for(tmp_path)

    def broken_download(url, destination, timeout=60.0):
        destination.write_bytes(b"half a fi")  # partial content, then the connection drops
        raise urllib.error.URLError("connection reset")

    monkeypatch.setattr(download, "download_url", broken_download)
    with pytest.raises(DataUnavailableError, match="connection reset") as error:
        download.fetch(remote, progress=False)
    assert "put it in" in str(error.value)
    assert os.listdir(cache / "toy") == []  # neither the final name nor the temporary one remains


def test_mirrors_are_tried_in_order(tmp_path, cache):
    source, remote = remote_for(tmp_path)
    two = dataclasses.replace(remote, urls=((tmp_path / "missing.bin").as_uri(), source.as_uri()))
    assert download.fetch(two, progress=False).read_bytes() == source.read_bytes()


def test_extract_zip_extracts_inside_and_refuses_path_traversal(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a/b.txt", "inside")
    files = download.extract_zip(good, tmp_path / "out")
    assert files == [(tmp_path / "out" / "a" / "b.txt").resolve()]
    for evil_name in ("../escaped.txt", "a/../../escaped.txt", "/tmp/absolute-escape.txt"):
        evil = tmp_path / "evil.zip"
        with zipfile.ZipFile(evil, "w") as zf:
            zf.writestr("fine.txt", "ok")
            zf.writestr(evil_name, "outside")
        with pytest.raises(UnsafeArchiveError, match="outside"):
            download.extract_zip(evil, tmp_path / "target")
        assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "target").exists()


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert download.cache_dir() == tmp_path
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert download.cache_dir().name == "data"


# ---------------------------------------------------------------------------------------------
# real loaders on miniature files


def test_every_real_file_has_a_pinned_checksum_and_a_url():
    for name, files in real.REMOTE_FILES.items():
        for filename, remote in files.items():
            algorithm, digest = remote.checksum.split(":")
            assert (algorithm, len(digest)) in {("sha256", 64), ("md5", 32)}, filename
            assert all(c in "0123456789abcdef" for c in digest) and remote.urls and remote.source


def test_real_loader_offline_error_and_pinned_checksum(cache, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as error:
        data.load("mnist")
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message and str(cache / "mnist") in message
    assert "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" in message
    with pytest.raises(DataUnavailableError, match="mmlab.ie.cuhk.edu.hk") as error:
        data.load("celeba")
    assert str(cache / "celeba") in str(error.value)
    # a file that is not the real one fails the real pin
    (cache / "mnist").mkdir(parents=True)
    write_idx(cache / "mnist" / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8), gz=True)
    with pytest.raises(ChecksumMismatchError):
        data.load("mnist")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_loader_on_miniature_files(cache, monkeypatch, name):
    folder = cache / name
    folder.mkdir(parents=True)
    images = np.random.default_rng(5).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, gz=True)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(6, dtype=np.uint8), gz=True)
        for kind in ("images-idx3", "labels-idx1"):
            place(monkeypatch, name, f"{prefix}-{kind}-ubyte.gz", folder / f"{prefix}-{kind}-ubyte.gz")
    ds = data.load(name, "test", n=4)
    assert ds.images.shape == (4, 1, 28, 28) and ds.labels.tolist() == [0, 1, 2, 3]
    assert torch.allclose(ds.images[:, 0], torch.from_numpy(images[:4]).float() / 255)


def test_binarized_mnist_loader_caches_the_parsed_text(cache, monkeypatch):
    folder = cache / "binarized-mnist"
    folder.mkdir(parents=True)
    rows = np.random.default_rng(6).integers(0, 2, (3, 784))
    (folder / "binarized_mnist_valid.amat").write_text("\n".join(" ".join(map(str, r)) for r in rows) + "\n")
    place(monkeypatch, "binarized-mnist", "binarized_mnist_valid.amat", folder / "binarized_mnist_valid.amat")
    ds = data.load("binarized-mnist", "valid")
    assert torch.equal(ds.images.reshape(3, 784), torch.from_numpy(rows).float())
    assert (folder / "binarized_mnist_valid.npy").exists()
    assert torch.equal(data.load("binarized-mnist", "valid").images, ds.images)  # from the .npy now


def test_omniglot_loaders_on_miniature_files(cache, monkeypatch):
    folder = cache / "omniglot"
    folder.mkdir(parents=True)
    omniglot_zip(folder / "images_evaluation.zip", top="images_evaluation")
    place(monkeypatch, "omniglot", "images_evaluation.zip", folder / "images_evaluation.zip")
    ds = data.load("omniglot", "test", version="official", size=21)
    assert ds.images.shape == (6, 1, 21, 21) and ds.factor_names == ("alphabet", "character")
    assert ds.labels.tolist() == [0, 0, 1, 1, 1, 1] and 0 < float(ds.images.mean()) < 0.2
    from scipy.io import savemat

    columns = np.random.default_rng(7).random((784, 4))
    savemat(folder / "chardata.mat", {"data": columns, "target": np.eye(2)[[0, 1, 1, 1]].T,
                                      "targetchar": np.array([[1, 1, 2, 2]]), "testdata": columns,
                                      "testtarget": np.eye(2)[[0, 1, 1, 1]].T,
                                      "testtargetchar": np.array([[1, 1, 2, 2]])})
    place(monkeypatch, "omniglot", "chardata.mat", folder / "chardata.mat")
    ds = data.load("omniglot")
    assert ds.images.shape == (4, 1, 28, 28) and ds.factors.tolist() == [[0, 0], [1, 1], [1, 2], [1, 2]]


def test_dsprites_loader_uses_the_sprites_split(cache, monkeypatch):
    from helpers.data import factors, sprites

    folder = cache / "dsprites"
    folder.mkdir(parents=True)
    classes = np.concatenate([np.zeros((400, 1), int), sprites.sample_factors(400, seed=8).numpy()], axis=1)
    imgs = np.random.default_rng(9).integers(0, 2, (400, 64, 64), dtype=np.uint8)
    filename = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    np.savez(folder / filename, imgs=imgs, latents_classes=classes, latents_values=classes.astype(float))
    place(monkeypatch, "dsprites", filename, folder / filename)
    train, test = data.load("dsprites"), data.load("dsprites", "test")
    assert len(train) + len(test) == 400
    assert not factors.in_test_split(factors.flat_index(train.factors.numpy(), sprites.FACTOR_SIZES)).any()
    assert factors.in_test_split(factors.flat_index(test.factors.numpy(), sprites.FACTOR_SIZES)).all()
    rows = train.info["rows"]
    assert torch.equal(train.images[:, 0], torch.from_numpy(imgs[rows]).float())
    small = data.load("dsprites", "all", n=10, storage="uint8")
    assert small.images.dtype == torch.uint8 and small[0][0].dtype == torch.float32 and len(small) == 10
    monkeypatch.setattr(real, "MAX_FLOAT32_GB", 1e-6)
    with pytest.raises(MemoryError, match="storage='uint8'"):
        data.load("dsprites", "all")


def test_shapes3d_loader_on_a_miniature_file(cache, monkeypatch):
    folder = cache / "shapes3d"
    folder.mkdir(parents=True)
    images, values, index = shapes3d_h5(folder / "3dshapes.h5")
    place(monkeypatch, "shapes3d", "3dshapes.h5", folder / "3dshapes.h5")
    ds = data.load("shapes3d", "all")
    assert torch.equal(ds.factors, torch.from_numpy(index))
    assert torch.allclose(ds.images, torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)


def test_celeba_loader_crops_attributes_and_partition(cache, monkeypatch):
    from PIL import Image

    folder = cache / "celeba"
    folder.mkdir(parents=True)
    attributes = celeba_texts(folder)
    with zipfile.ZipFile(folder / "img_align_celeba.zip", "w") as zf:
        for i in range(3):
            picture = np.zeros((218, 178, 3), dtype=np.uint8)
            picture[:, :, i] = 200  # one colour per image
            buffer = io.BytesIO()
            Image.fromarray(picture).save(buffer, "JPEG", quality=95)
            zf.writestr(f"img_align_celeba/{i + 1:06d}.jpg", buffer.getvalue())
    for filename in ("img_align_celeba.zip", "list_attr_celeba.txt", "list_eval_partition.txt"):
        place(monkeypatch, "celeba", filename, folder / filename)
    train = data.load("celeba")
    assert train.images.shape == (2, 3, 64, 64) and train.attribute_names == tuple(NAMES)
    assert torch.equal(train.attributes, torch.from_numpy(attributes[:2]).float())
    assert train.images[1, 1].mean() > 0.7 and train.images[1, 0].mean() < 0.1  # image 2 is green
    test = data.load("celeba", "test")
    assert len(test) == 1 and test.images[0, 2].mean() > 0.7


# ---------------------------------------------------------------------------------------------
# CIFAR-10 (python version: pickled batches in a tarball)


def cifar_rows(n, offset=0):
    """n rows of `data` whose value says where it is: channel * 100 + image row + offset (uint8)."""
    position = np.arange(3072)
    row = (position // 1024) * 100 + (position % 1024) // 32  # 1024 red, 1024 green, 1024 blue, each row-major
    return np.tile(row + offset, (n, 1)).astype(np.uint8)


def test_read_cifar10_tarball_reads_planes_batches_and_names(tmp_path):
    from tests.real_format_files import CIFAR10_LABEL_NAMES, cifar10_tarball

    train = np.concatenate([cifar_rows(1, offset=k) for k in range(7)])  # image k carries offset k
    path = cifar10_tarball(tmp_path / "cifar-10-python.tar.gz", (train, np.arange(7) % 10),
                           (cifar_rows(3, offset=20), np.array([9, 0, 4])))
    part = formats.read_cifar10_tarball(path, "train")
    assert part["images"].shape == (7, 3, 32, 32) and part["images"].dtype == np.uint8
    # pixel (c, r, x) of image k is c * 100 + r + k: planes R, G, B, each 32 rows of 32
    assert part["images"][0, 0, 0, 0] == 0 and part["images"][0, 1, 0, 31] == 100 and part["images"][0, 2, 31, 5] == 231
    assert part["images"][6, 1, 3, 7] == 100 + 3 + 6  # the 5 batches (2, 2, 1, 1, 1 images) concatenated in order
    assert part["labels"].tolist() == [0, 1, 2, 3, 4, 5, 6] and part["label_names"] == CIFAR10_LABEL_NAMES
    test = formats.read_cifar10_tarball(path, "test")
    assert test["labels"].tolist() == [9, 0, 4] and test["images"][2, 2, 10, 0] == 200 + 10 + 20
    with pytest.raises(ValueError, match="split"):
        formats.read_cifar10_tarball(path, "valid")


def cifar_tar(path, members):
    """A gzipped tar of cifar-10-batches-py/<name> -> raw bytes."""
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def python2_batch(row: bytes, label: int) -> bytes:
    """{"data": one 1 x 3072 uint8 row, "labels": [label]} as Python 2's cPickle wrote CIFAR-10's batches
    (protocol 2, str as BINSTRING, numpy.core.multiarray._reconstruct): not what Python 3 writes."""
    array = (b"cnumpy.core.multiarray\n_reconstruct\nq\x03cnumpy\nndarray\nq\x04K\x00\x85U\x01b\x87Rq\x05"
             b"(K\x01K\x01M\x00\x0c\x86cnumpy\ndtype\nq\x06U\x02u1K\x00K\x01\x87Rq\x07"
             b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T"
             + struct.pack("<I", len(row)) + row + b"tb")
    return b"\x80\x02}q\x01(U\x04dataq\x02" + array + b"U\x06labelsq\x08]q\t" + bytes([ord("K"), label]) + b"au."


def test_read_cifar10_tarball_reads_python2_pickles(tmp_path):
    import pickle

    meta = pickle.dumps({b"label_names": [b"x"] * 10}, protocol=2)
    path = cifar_tar(tmp_path / "py2.tar.gz", {"test_batch": python2_batch(cifar_rows(1).tobytes(), 7),
                                               "batches.meta": meta})
    part = formats.read_cifar10_tarball(path, "test")
    assert part["labels"].tolist() == [7] and part["images"][0, 2, 5, 9] == 205


class _MakesAFolder:
    """Unpickling this calls os.mkdir: stands for any code a tampered pickle could run."""

    def __init__(self, folder):
        self.folder = str(folder)

    def __reduce__(self):
        return os.mkdir, (self.folder,)


def test_read_cifar10_tarball_refuses_other_structures_and_code(tmp_path):
    import pickle

    good = {b"data": cifar_rows(2), b"labels": [1, 2]}
    meta = pickle.dumps({b"label_names": [b"x"] * 10}, protocol=2)
    (tmp_path / "plain.txt").write_text("not an archive")
    with pytest.raises(ValueError, match="not a gzipped tar"):
        formats.read_cifar10_tarball(tmp_path / "plain.txt")
    # the binary version's layout (or any other) lacks the python batches
    path = cifar_tar(tmp_path / "binary.tar.gz", {"data_batch_1.bin": b"\x00" * 3073})
    with pytest.raises(ValueError, match="no cifar-10-batches-py/data_batch_1"):
        formats.read_cifar10_tarball(path)
    wrong = [({b"data": cifar_rows(2)[:, :1000], b"labels": [1, 2]}, "b'data' must be a uint8 array"),
             ({b"data": cifar_rows(2).astype(np.float32), b"labels": [1, 2]}, "b'data' must be a uint8 array"),
             ({b"data": cifar_rows(2), b"labels": [1]}, "b'labels' must be a list of 2 ints"),
             ({b"data": cifar_rows(2), b"labels": [1, 10]}, "b'labels' must be a list of 2 ints"),
             ([good], "not the batch dict")]
    for k, (batch, message) in enumerate(wrong):
        payload = pickle.dumps(batch, protocol=2)
        path = cifar_tar(tmp_path / f"wrong{k}.tar.gz", {"test_batch": payload, "batches.meta": meta})
        with pytest.raises(ValueError, match=message):
            formats.read_cifar10_tarball(path, "test")
    # a pickle that would run code is refused before anything runs
    marker = tmp_path / "made-by-the-pickle"
    evil = pickle.dumps({b"data": cifar_rows(2), b"labels": [1, 2], b"x": _MakesAFolder(marker)}, protocol=2)
    path = cifar_tar(tmp_path / "evil.tar.gz", {"test_batch": evil, "batches.meta": meta})
    with pytest.raises(ValueError, match="refusing to load the global .*mkdir"):
        formats.read_cifar10_tarball(path, "test")
    assert not marker.exists()


def test_cifar10_loader_on_a_miniature_file(cache, monkeypatch):
    from tests.real_format_files import cifar10_tarball

    path = cifar10_tarball(cache / "cifar10" / "cifar-10-python.tar.gz", (cifar_rows(5), np.arange(5)),
                           (cifar_rows(4, offset=20), np.array([3, 1, 4, 1])))
    with pytest.raises(ChecksumMismatchError):  # the real pin refuses the stand-in before unpickling it
        data.load("cifar10", "test")
    place(monkeypatch, "cifar10", "cifar-10-python.tar.gz", path)
    ds = data.load("cifar10", "test", n=3)
    assert ds.images.shape == (3, 3, 32, 32) and ds.labels.tolist() == [3, 1, 4]
    assert ds.images.dtype == torch.float32 and float(ds.images[1, 2, 7, 0]) == pytest.approx((200 + 7 + 20) / 255)
    raw = data.load("cifar10", storage="uint8")
    assert raw.images.dtype == torch.uint8 and len(raw) == 5 and int(raw.images[4, 1, 31, 31]) == 131
    assert raw.info["label_names"][0] == "airplane" and raw.info["label_names"][9] == "truck"


# ---------------------------------------------------------------------------------------------
# the test-only checksum override (COURSE_TEST_CHECKSUMS)


@pytest.fixture
def override(tmp_path, monkeypatch):
    """Write an override file from a dict and point COURSE_TEST_CHECKSUMS at it; a fresh warning state."""
    monkeypatch.setattr(download, "_warned_about_override", False)

    def write(checksums):
        path = tmp_path / "checksums.json"
        path.write_text(json.dumps(checksums))
        monkeypatch.setenv("COURSE_TEST_CHECKSUMS", str(path))
        return path

    return write


def test_override_is_honoured_for_a_listed_file_and_warns_once(tmp_path, cache, monkeypatch, override):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    folder = cache / "toy"
    folder.mkdir(parents=True)
    (folder / "file.bin").write_bytes(b"a small stand-in")
    pinned = RemoteFile("file.bin", ("https://example.invalid/file.bin",), "sha256:" + "0" * 64, "toy")
    with pytest.raises(ChecksumMismatchError):  # without the override the pin refuses it
        download.fetch(pinned, progress=False)
    override({"toy/file.bin": sha256(folder / "file.bin")})
    with pytest.warns(UserWarning, match="overridden"):
        assert download.fetch(pinned, progress=False) == folder / "file.bin"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process: no second warning
        download.verify(folder / "file.bin", pinned)


@pytest.mark.filterwarnings("ignore:COURSE_TEST_CHECKSUMS")
def test_override_still_verifies_and_unlisted_files_keep_their_pins(tmp_path, cache, monkeypatch, override):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    folder = cache / "toy"
    folder.mkdir(parents=True)
    (folder / "listed.bin").write_bytes(b"not the file the override names")
    (folder / "unlisted.bin").write_bytes(b"another file")
    override({"toy/listed.bin": "sha256:" + "1" * 64})
    listed = RemoteFile("listed.bin", ("https://example.invalid/a",), sha256(folder / "listed.bin"), "toy")
    with pytest.raises(ChecksumMismatchError, match="1" * 64):  # a wrong file fails against the override
        download.fetch(listed, progress=False)
    unlisted = RemoteFile("unlisted.bin", ("https://example.invalid/b",), "sha256:" + "2" * 64, "toy")
    with pytest.raises(ChecksumMismatchError, match="2" * 64):  # not listed: the pin decides
        download.verify(folder / "unlisted.bin", unlisted)
    missing = RemoteFile("missing.bin", ("https://example.invalid/c",), "sha256:" + "3" * 64, "toy")
    override({"toy/listed.bin": "sha256:" + "1" * 64, "toy/missing.bin": "sha256:" + "4" * 64})
    with pytest.raises(DataUnavailableError, match="COURSE_OFFLINE"):  # the offline error stays as it was
        download.fetch(missing, progress=False)


@pytest.mark.filterwarnings("ignore:COURSE_TEST_CHECKSUMS")
def test_override_applies_to_downloads_too(tmp_path, cache, override):
    source, remote = remote_for(tmp_path)
    override({"toy/file.bin": "sha256:" + "5" * 64})
    with pytest.raises(ChecksumMismatchError):
        download.fetch(remote, progress=False)
    assert os.listdir(cache / "toy") == []  # the partial download is gone
    override({"toy/file.bin": sha256(source)})
    wrong_pin = dataclasses.replace(remote, checksum="sha256:" + "6" * 64)
    assert download.fetch(wrong_pin, progress=False).read_bytes() == source.read_bytes()


def test_a_broken_override_file_is_an_error(tmp_path, override, monkeypatch):
    path = override({"toy/file.bin": "not a checksum"})
    with pytest.raises(download.DataError, match="sha256"):
        download.expected_checksum(RemoteFile("file.bin", ("u",), "sha256:" + "0" * 64, "toy"))
    path.write_text("{ not json")
    with pytest.raises(download.DataError, match="JSON"):
        download.expected_checksum(RemoteFile("file.bin", ("u",), "sha256:" + "0" * 64, "toy"))


# ---------------------------------------------------------------------------------------------
# every real loader on the stand-in files of tests/real_format_files.py


@pytest.fixture(scope="module")
def real_format_env(tmp_path_factory):
    from tests.real_format_files import write_real_format_files

    return write_real_format_files(tmp_path_factory.mktemp("real-format"), n_train=120, n_test=40)


@pytest.fixture
def real_format_cache(real_format_env, monkeypatch):
    for key, value in real_format_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(download, "_warned_about_override", True)  # the warning is tested above
    return real_format_env


def test_real_format_files_list_every_remote_file(real_format_cache):
    listed = json.loads(open(real_format_cache["COURSE_TEST_CHECKSUMS"]).read())
    expected = {f"{r.subdir}/{r.filename}" for files in real.REMOTE_FILES.values() for r in files.values()}
    assert set(listed) == expected
    assert all(v.startswith("sha256:") and len(v) == 71 for v in listed.values())


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_format_mnist(real_format_cache, name):
    train, test = data.load(name), data.load(name, "test")
    assert train.images.shape == (120, 1, 28, 28) and len(test) == 40
    assert set(train.labels.tolist()) == set(range(10))
    assert train.images[:, :, :4].max() == 0  # digits sit in the centre 20 x 20, as MNIST's do


def test_real_format_binarized_mnist(real_format_cache):
    for split, n in (("train", 120), ("valid", 40), ("test", 40)):
        ds = data.load("binarized-mnist", split)
        assert len(ds) == n and set(ds.images.unique().tolist()) == {0.0, 1.0}


def test_real_format_omniglot(real_format_cache):
    iwae = data.load("omniglot")
    assert iwae.images.shape == (120, 1, 28, 28) and iwae.factors[:, 0].max() < 50
    official = data.load("omniglot", "test", version="official")
    assert len(official) >= 40 and official.images.shape[1:] == (1, 28, 28)
    from tests.real_format_files import OMNIGLOT_EVALUATION

    archive = real.REMOTE_FILES["omniglot"]["images_evaluation.zip"]
    assert set(formats.read_omniglot_zip(download.fetch(archive))["alphabet_names"]) <= set(OMNIGLOT_EVALUATION)


def test_real_format_dsprites(real_format_cache):
    from helpers.data import sprites

    train, test = data.load("dsprites"), data.load("dsprites", "test")
    assert (len(train), len(test)) == (120, 40)
    assert torch.equal(train.images, sprites.render(train.factors))  # images match latents_classes


def test_real_format_shapes3d(real_format_cache):
    from helpers.data import shapes

    train, test = data.load("shapes3d"), data.load("shapes3d", "test")
    assert (len(train), len(test)) == (120, 40)
    rendered = shapes.render(train.factors[:4])
    assert (train.images[:4] - rendered).abs().max() < 1 / 255 + 1e-6  # uint8 round trip of the same scenes


def test_real_format_celeba(real_format_cache):
    from tests.real_format_files import CELEBA_ATTRIBUTES

    train, valid, test = (data.load("celeba", split) for split in ("train", "valid", "test"))
    assert (len(train), len(valid), len(test)) == (120, 40, 40)
    assert train.attribute_names == CELEBA_ATTRIBUTES and train.images.shape[1:] == (3, 64, 64)
    for name in ("Eyeglasses", "Smiling", "Wearing_Hat"):
        assert 0 < float(train.attributes[:, CELEBA_ATTRIBUTES.index(name)].mean()) < 1


def test_real_format_cifar10(real_format_cache):
    from helpers.data import portraits
    from tests.real_format_files import CIFAR10_LABEL_NAMES

    train, test = data.load("cifar10"), data.load("cifar10", "test")
    assert (len(train), len(test)) == (120, 40) and train.images.shape[1:] == (3, 32, 32)
    assert train.info["label_names"] == CIFAR10_LABEL_NAMES and set(train.labels.tolist()) <= set(range(10))
    drawn = portraits.render(portraits.sample_factors(120, 0), size=32)  # the stand-in's pictures, in order
    assert (train.images - drawn).abs().max() <= 0.5 / 255 + 1e-6  # only the uint8 rounding differs


def test_real_format_files_full_layout_at_reduced_sizes(tmp_path, monkeypatch):
    """full=True's branches (whole factor grids in file order, the real partitions, 20 drawers per
    Omniglot character), with the real sizes scaled down so that the test takes seconds."""
    import tests.real_format_files as rf

    monkeypatch.setattr(rf, "FULL_UNIQUE", 16)
    monkeypatch.setitem(rf.REAL_SIZES, "omniglot-official", ((30, 30), (20, 20)))
    monkeypatch.setitem(rf.REAL_SIZES, "dsprites", 3000)
    monkeypatch.setitem(rf.REAL_SIZES, "shapes3d", 2000)
    monkeypatch.setitem(rf.REAL_SIZES, "celeba", (50, 7, 9))
    monkeypatch.setitem(rf.REAL_SIZES, "cifar10", (50, 10))
    env = rf.write_real_format_files(tmp_path, full=True,
                                     only=["omniglot", "dsprites", "shapes3d", "celeba", "cifar10"])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(download, "_warned_about_override", True)
    assert len(data.load("omniglot", "test", version="official")) == 20 * 20
    assert len(data.load("omniglot", "test")) == 8070  # the IWAE set's real size
    dsprites = formats.read_dsprites_npz(tmp_path / "dsprites" / rf.DSPRITES_FILE)
    assert np.array_equal(dsprites["latents_classes"][:3, -1], [0, 1, 2])  # grid order: posY fastest
    assert len(data.load("dsprites", "all")) == 3000 and len(data.load("shapes3d", "all")) == 2000
    assert [len(data.load("celeba", split)) for split in ("train", "valid", "test")] == [50, 7, 9]
    cifar = data.load("cifar10", storage="uint8")  # full=True: random pixels, not portraits
    assert len(cifar) == 50 and len(data.load("cifar10", "test")) == 10 and cifar.images.float().std() > 60


def test_real_format_files_cli_prints_the_environment(tmp_path):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "tests.real_format_files", str(tmp_path), "--only", "mnist",
                           "--n-train", "20", "--n-test", "10"], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, proc.stderr
    env = dict(line.split("=", 1) for line in proc.stdout.split())
    assert env == {"COURSE_DATA_DIR": str(tmp_path), "COURSE_TEST_CHECKSUMS": str(tmp_path / "checksums.json")}
    assert set(json.loads((tmp_path / "checksums.json").read_text())) == {
        f"mnist/{name}" for name in real.REMOTE_FILES["mnist"]}


# ---------------------------------------------------------------------------------------------
# SmallNORB and Cars3D (notebook 06's paper profile: the Local VAE paper's CarsNORB)


@pytest.mark.parametrize("gz", [False, True])
def test_read_norb_matrix_reads_byte_and_integer_matrices(tmp_path, gz):
    from tests.real_format_files import write_norb_matrix

    images = np.arange(3 * 2 * 5 * 4, dtype=np.uint8).reshape(3, 2, 5, 4)
    labels = np.array([4, 0, 2], dtype=np.int32)                   # 1-D: three sizes stored, the last two 1
    info = np.array([[9, 8, 34, 5], [0, 0, 0, 0], [4, 1, 2, 3]], dtype=np.int32)
    for name, array in (("dat", images), ("cat", labels), ("info", info)):
        path = tmp_path / f"{name}.mat.gz"
        write_norb_matrix(path, array)
        if not gz:
            path.write_bytes(gzip.decompress(path.read_bytes()))
        back = formats.read_norb_matrix(path)
        assert back.dtype == array.dtype and np.array_equal(back, array)
    header = struct.unpack("<5i", gzip.decompress((tmp_path / "cat.mat.gz").read_bytes())[:20]) if gz else \
        struct.unpack("<5i", (tmp_path / "cat.mat.gz").read_bytes()[:20])
    assert header == (0x1E3D4C54, 1, 3, 1, 1)                       # LeCun's layout for a 1-D integer matrix
    (tmp_path / "bad.mat").write_bytes(struct.pack("<5i", 0x12345678, 1, 3, 1, 1) + bytes(12))
    with pytest.raises(ValueError, match="not a NORB binary matrix"):
        formats.read_norb_matrix(tmp_path / "bad.mat")
    (tmp_path / "short.mat").write_bytes(struct.pack("<5i", 0x1E3D4C55, 1, 30, 1, 1) + bytes(12))
    with pytest.raises(ValueError, match="header says"):
        formats.read_norb_matrix(tmp_path / "short.mat")


def test_read_cars3d_tarball_orders_rows_by_car_elevation_azimuth(tmp_path):
    import tarfile

    import scipy.io

    path = tmp_path / "nips2015-analogy-data.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for car in (2, 1):                                          # written out of order: the parser sorts
            im = np.zeros((4, 4, 3, 24, 4), dtype=np.uint8)
            for a in range(24):
                for e in range(4):
                    im[:, :, 0, a, e], im[:, :, 1, a, e], im[:, :, 2, a, e] = a, e, car
            buffer = io.BytesIO()
            scipy.io.savemat(buffer, {"im": im})
            info = tarfile.TarInfo(f"data/cars/car_{car:03d}_mesh.mat")
            info.size = len(buffer.getvalue())
            tar.addfile(info, io.BytesIO(buffer.getvalue()))
    parsed = formats.read_cars3d_tarball(path)
    assert parsed["images"].shape == (192, 4, 4, 3) and parsed["names"] == ["car_001_mesh", "car_002_mesh"]
    f = parsed["factors"]                                           # (elevation, azimuth, car index)
    assert np.array_equal(f[:3], [[0, 0, 0], [0, 1, 0], [0, 2, 0]]) and np.array_equal(f[24], [1, 0, 0])
    assert np.array_equal(parsed["images"][:, 0, 0], np.stack([f[:, 1], f[:, 0], f[:, 2] + 1], 1))
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    with pytest.raises(ValueError, match="no data/cars"):
        formats.read_cars3d_tarball(empty)


def test_real_format_smallnorb_and_cars3d(real_format_cache):
    # not in data.load's registry yet (tests/test_data.py pins its list of real sets): the loaders directly
    train, test = real.load_smallnorb(), real.load_smallnorb("test")
    assert (len(train), len(test)) == (120, 40) and train.images.shape[1:] == (1, 64, 64)
    assert set(train.factors[:, 1].tolist()) <= {4, 6, 7, 8, 9} and set(test.factors[:, 1].tolist()) <= {0, 1, 2, 3, 5}
    assert int(train.factors[:, 3].max()) < 18                     # azimuth 0, 2, ..., 34 halved
    assert real.load_smallnorb(size=96).images.shape[1:] == (1, 96, 96)
    cars = real.load_cars3d("all")
    assert len(cars) == 3 * 96 and cars.images.shape[1:] == (3, 64, 64)
    assert sorted(cars.factors[:, 2].unique().tolist()) == [0, 1, 2]
    train_cars, test_cars = real.load_cars3d(), real.load_cars3d("test")
    assert len(train_cars) + len(test_cars) == len(cars) and len(test_cars) > 0
    assert (real.REMOTE_FILES["cars3d"]["nips2015-analogy-data.tar.gz"].algorithm,
            real.REMOTE_FILES["smallnorb"]["smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat.gz"].algorithm) == ("md5", "sha256")
