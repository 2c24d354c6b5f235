"""Nothing in the repository points to files outside it.

Sources are cited by authors, title, venue/year and a public link; a learner who clones the course
has no folder of course-design files beside it, no paper text files and nobody's home directory. This test reads every
tracked text file (git ls-files) and fails on references to those, listing each as file:line.
"""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (what it is, pattern). Written so that this file does not match itself where it can; it is skipped anyway.
OUTSIDE_REFERENCES = [
    ("the shared folder beside the repository", re.compile(r"\.\./shared\b")),
    ("the paper texts of the course design", re.compile(r"\bshared" r"/papers\b")),
    ("a paper seed file", re.compile(r"\b00[0-4]_[0-9a-f]{16}\.txt\b")),
    ("a papers/ folder", re.compile(r"(?<![\w.-])papers/")),
    ("an absolute home path", re.compile(r"(?<![\w.])(?:/home/[\w.-]+|/Users/[\w.-]+|/root/|[A-Za-z]:\\Users\\)")),
    ("this machine's checkout", re.compile(r"(?<![\w.])/work/(?:main|shared)\b")),
]
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def tracked_text_files() -> list[Path]:
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (git ls-files failed)")
    files = []
    for name in listing.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file() and path.resolve() != Path(__file__).resolve():
            files.append(path)
    return files


def offending_lines(path: Path, root: Path = ROOT) -> list[str]:
    raw = path.read_bytes()
    if b"\0" in raw[:8192]:
        return []  # binary
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return []
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        outside_urls = URL.sub(" ", line)  # a public link may well contain "papers/" (e.g. jmlr.org/papers/)
        for what, pattern in OUTSIDE_REFERENCES:
            match = pattern.search(outside_urls)
            if match:
                found.append(f"{path.relative_to(root)}:{number}: {what}: {match.group(0)!r}")
    return found


def test_no_tracked_file_refers_to_files_outside_the_repository():
    offences = [line for path in tracked_text_files() for line in offending_lines(path)]
    for line in offences:
        print(line)
    assert not offences, (f"{len(offences)} reference(s) to files outside the repository "
                          "(cite papers by authors, title, venue and a public link):\n" + "\n".join(offences))


@pytest.mark.parametrize("line, bad", [
    # the probes are assembled from parts, so that this file itself holds no such reference
    ("see " + "../" + "shared" + "/papers/001_x.txt", True),
    ("from 003_" + "0123456789abcdef" + ".txt, section 2", True),
    ("the text in papers/002.txt", True),
    ("open /home/alice/course/data", True),
    ("C:\\Users\\bob\\course", True),
    ("[paper](https://www.jmlr.org/papers/v18/16-107.html)", False),
    ("Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014, https://arxiv.org/abs/1312.6114", False),
    ("the papers' data sets; paper/ profile", False),
])
def test_the_patterns_catch_outside_references_and_spare_public_links(tmp_path, line, bad):
    path = tmp_path / "probe.txt"
    path.write_text(line + "\n")
    assert bool(offending_lines(path, root=tmp_path)) == bad
