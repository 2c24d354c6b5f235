"""The data cache: where real data sets live, how they get there, and how we know they are intact.

Every real file is described by a `RemoteFile`: its name, the URLs it can come from, and a pinned
checksum. `fetch` returns the path of a verified copy in the cache, downloading it first when it
is missing. Three guarantees:

- a file only ever appears under its final name after its checksum matched (download to a
  temporary name, verify, then rename), so an interrupted download never looks complete;
- offline, or when every URL fails, the error names the file, its checksum, the URLs and the
  folder to put it in by hand;
- `extract_zip` refuses any archive member that would land outside the target folder.

The cache folder is `COURSE_DATA_DIR` if set, else the repository's `data/` folder (or `./data`
when the package is installed without its repository, e.g. on Colab).
Set `COURSE_OFFLINE=1` to forbid downloads altogether (CI does).

For tests only: `COURSE_TEST_CHECKSUMS` may name a JSON file `{"<subdir>/<filename>": "sha256:<hex>"}`.
The files it lists are then checked against its checksums instead of the pinned ones, so that
small files written in the real formats (tests/real_format_files.py) pass through the real loaders.
Verification itself, the offline error and the partial-download handling stay as they are, files it
does not list keep their pins, and a warning says once per process that the pins are overridden.
Never set it to use data you did not write yourself: it switches off the one check that a download
is the published file.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


class DataError(RuntimeError):
    """Base class of the data-cache errors."""


class DataUnavailableError(DataError, FileNotFoundError):
    """A real data file is not in the cache and could not be downloaded."""


class ChecksumMismatchError(DataError):
    """A file's checksum differs from the pinned one (corrupt, truncated, or a different file)."""


class UnsafeArchiveError(DataError):
    """An archive member would be written outside the folder it is extracted into."""


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file with its pinned checksum.

    checksum: "sha256:<hex>" (preferred) or "md5:<hex>" where no trustworthy SHA-256 is published.
    subdir:   folder inside the cache (one per data set).
    manual:   extra advice for placing the file by hand (e.g. CelebA, whose Google Drive links fail).
    """

    filename: str
    urls: tuple[str, ...]
    checksum: str
    subdir: str
    size: int | None = None
    manual: str = ""
    source: str = field(default="", compare=False)  # where the pinned checksum was published

    @property
    def algorithm(self) -> str:
        return self.checksum.split(":", 1)[0]

    @property
    def digest(self) -> str:
        return self.checksum.split(":", 1)[1].lower()


def cache_dir() -> Path:
    """The data cache folder: `COURSE_DATA_DIR`, else the repository's data/, else ./data."""
    configured = os.environ.get("COURSE_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").exists() and (repo / "helpers").is_dir():
        return repo / "data"
    return Path.cwd() / "data"


def file_checksum(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks so large files do not need to fit in memory."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def offline() -> bool:
    return os.environ.get("COURSE_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


TEST_CHECKSUMS_ENV = "COURSE_TEST_CHECKSUMS"
_warned_about_override = False


def _test_checksums() -> dict[str, str]:
    """The checksum override for tests: {"<subdir>/<filename>": "sha256:<hex>"} from the JSON file
    that `COURSE_TEST_CHECKSUMS` names, or {} when it is not set."""
    global _warned_about_override
    configured = os.environ.get(TEST_CHECKSUMS_ENV, "").strip()
    if not configured:
        return {}
    try:
        override = json.loads(Path(configured).expanduser().read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{TEST_CHECKSUMS_ENV}={configured} must name a JSON file of "
                        f'{{"<subdir>/<filename>": "sha256:<hex>"}}: {error}') from error
    if not isinstance(override, dict) or not all(
            isinstance(v, str) and v.split(":", 1)[0] in ("sha256", "md5") and ":" in v for v in override.values()):
        raise DataError(f"{TEST_CHECKSUMS_ENV}={configured}: every value must be 'sha256:<hex>' or 'md5:<hex>'")
    if not _warned_about_override:
        warnings.warn(f"{TEST_CHECKSUMS_ENV} is set: the pinned checksums of the {len(override)} files listed in "
                      f"{configured} are overridden (for tests only)", stacklevel=3)
        _warned_about_override = True
    return override


def expected_checksum(remote: RemoteFile) -> RemoteFile:
    """`remote` with the checksum a file is checked against: the pinned one, unless the test override
    (`COURSE_TEST_CHECKSUMS`) lists "<subdir>/<filename>"."""
    override = _test_checksums().get(f"{remote.subdir}/{remote.filename}")
    if override is None or override == remote.checksum:
        return remote
    return dataclasses.replace(remote, checksum=override, source=f"overridden by {TEST_CHECKSUMS_ENV} (tests only)")


def _where_to_put_it(remote: RemoteFile, folder: Path) -> str:
    lines = [
        f"  file:     {remote.filename}" + (f" ({remote.size:,} bytes)" if remote.size else ""),
        f"  checksum: {remote.checksum}",
        "  from:     " + "\n            ".join(remote.urls),
        f"  put it in: {folder}{os.sep}",
    ]
    if remote.manual:
        lines.append(f"  note:     {remote.manual}")
    lines.append("  (set COURSE_DATA_DIR to use another cache folder)")
    return "\n".join(lines)


def verify(path: Path, remote: RemoteFile) -> None:
    """Raise ChecksumMismatchError unless `path` has the pinned checksum of `remote` (or the test
    override's, see `expected_checksum`)."""
    remote = expected_checksum(remote)
    actual = file_checksum(path, remote.algorithm)
    if actual != remote.digest:
        raise ChecksumMismatchError(
            f"{path} has {remote.algorithm} {actual}, but the pinned checksum is {remote.checksum}.\n"
            f"The file is corrupt, truncated or a different version. Delete it and download it again:\n"
            + _where_to_put_it(remote, path.parent)
        )


def download_url(url: str, destination: Path, timeout: float = 60.0) -> None:
    """Copy `url` (http(s):// or file://) to `destination`, streaming. The one network call here."""
    request = urllib.request.Request(url, headers={"User-Agent": "structured-latents-course"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(destination, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def fetch(remote: RemoteFile, folder: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Path of a verified copy of `remote` in the cache, downloading it first if it is missing.

    A file already in place (downloaded before, or put there by hand) is checked against the pinned
    checksum. A download goes to a temporary name and is renamed only once its checksum matched.
    """
    remote = expected_checksum(remote)
    folder = Path(folder) if folder is not None else cache_dir() / remote.subdir
    target = folder / remote.filename
    if target.exists():
        verify(target, remote)
        return target
    if offline():
        raise DataUnavailableError(
            f"{remote.filename} is not in the cache and downloads are off (COURSE_OFFLINE is set).\n"
            + _where_to_put_it(remote, folder)
        )
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{remote.filename}.partial-{os.getpid()}"
    failures = []
    for url in remote.urls:
        if progress:
            print(f"downloading {remote.filename} from {url}", flush=True)
        try:
            download_url(url, partial)
            verify(partial, remote)
        except ChecksumMismatchError as error:
            failures.append(f"{url}: wrong checksum ({str(error).splitlines()[0]})")
        except (OSError, ValueError) as error:  # URLError, HTTPError, timeouts, bad URLs are OSError/ValueError
            failures.append(f"{url}: {type(error).__name__}: {error}")
        else:
            os.replace(partial, target)  # atomic on one file system: the final name means verified
            return target
        finally:
            if partial.exists():
                partial.unlink()
    mismatch = all("wrong checksum" in f for f in failures)
    error_type = ChecksumMismatchError if mismatch else DataUnavailableError
    raise error_type(
        f"could not get {remote.filename}:\n  " + "\n  ".join(failures)
        + "\nDownload it yourself (a browser works) and place it as follows:\n" + _where_to_put_it(remote, folder)
    )


def extract_zip(archive: str | os.PathLike, target: str | os.PathLike) -> list[Path]:
    """Extract a zip archive into `target`, refusing members that would land outside it.

    Zip member names are untrusted: "../x", "/etc/x" or "C:\\x" would otherwise write anywhere
    (the "zip slip" attack). All members are checked before anything is written.
    """
    target = Path(target).resolve()
    with zipfile.ZipFile(archive) as zf:
        destinations = []
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            destination = (target / name).resolve()
            if name.startswith("/") or ":" in name.split("/")[0] or not destination.is_relative_to(target):
                raise UnsafeArchiveError(
                    f"refusing to extract {archive}: member {info.filename!r} would land outside {target}"
                )
            destinations.append(destination)
        target.mkdir(parents=True, exist_ok=True)
        zf.extractall(target)
    return [d for d in destinations if d.is_file()]
