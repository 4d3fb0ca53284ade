"""The installed package's metadata: license, authors, project URLs, classifiers.

Read through importlib.metadata from whatever memokey is installed (the wheel in
scripts/dev test's fresh venv) and compared with pyproject.toml, the source of
truth; the LICENSE file must be inside the installed distribution, byte for byte.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    """The [project] table of pyproject.toml."""
    if sys.version_info < (3, 11):
        pytest.skip("reads pyproject.toml with tomllib (Python 3.11+)")
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def meta() -> metadata.PackageMetadata:
    return metadata.metadata("memokey")


def test_license_is_an_spdx_expression(meta: metadata.PackageMetadata, project: dict[str, Any]) -> None:
    assert project["license"], "pyproject.toml has no license"
    # Core metadata 2.4 (PEP 639): License-Expression, not the free-text License field.
    assert meta["License-Expression"] == project["license"]
    assert float(meta["Metadata-Version"]) >= 2.4


def test_license_file_is_in_the_distribution(meta: metadata.PackageMetadata, project: dict[str, Any]) -> None:
    dist = metadata.distribution("memokey")
    files = {str(f): f for f in dist.files or []}
    for name in project["license-files"]:
        assert meta.get_all("License-File") and name in meta.get_all("License-File")
        installed = [f for path, f in files.items() if path.endswith(f".dist-info/licenses/{name}")]
        assert installed, f"{name} is not in the installed distribution: {sorted(files)}"
        assert installed[0].read_text() == (ROOT / name).read_text()


def test_license_file_matches_the_expression(project: dict[str, Any]) -> None:
    text = (ROOT / "LICENSE").read_text()
    if project["license"] == "Apache-2.0":
        assert "Apache License" in text and "Version 2.0, January 2004" in text
    elif project["license"] == "MIT":
        assert text.startswith("MIT License")
    else:
        pytest.fail(f"add the check for {project['license']!r}")


def test_authors(meta: metadata.PackageMetadata, project: dict[str, Any]) -> None:
    names = [a["name"] for a in project["authors"]]
    assert names
    assert meta["Author"] == ", ".join(names)


def test_project_urls(meta: metadata.PackageMetadata, project: dict[str, Any]) -> None:
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert urls == project["urls"]
    # The four a package index shows.
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())


def test_classifiers_and_keywords(meta: metadata.PackageMetadata, project: dict[str, Any]) -> None:
    classifiers = meta.get_all("Classifier") or []
    assert classifiers == project["classifiers"]
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert any(c.startswith("Operating System ::") for c in classifiers)
    # Every Python minor version from requires-python's minimum is named.
    low = int(project["requires-python"].removeprefix(">=3."))
    assert f"Programming Language :: Python :: 3.{low}" in classifiers
    assert meta["Requires-Python"] == project["requires-python"]
    assert meta["Keywords"].split(",") == project["keywords"]


def test_test_extra_is_what_scripts_setup_installs(meta: metadata.PackageMetadata,
                                                   project: dict[str, Any]) -> None:
    """The venv of scripts/dev test gets the [test] extra; a developer machine gets
    scripts/setup's PIP_TEST. Both must be the same list, or one of them lacks a
    package the suite imports."""
    text = "\n".join(line.split("#", 1)[0] for line in (ROOT / "scripts" / "setup").read_text().splitlines())
    m = re.search(r"^PIP_TEST=\((.*?)\)", text, flags=re.S | re.M)
    assert m, "no PIP_TEST array in scripts/setup"
    assert set(project["optional-dependencies"]["test"]) == set(m.group(1).split())
    # ...and the installed metadata carries that extra.
    assert "test" in (meta.get_all("Provides-Extra") or [])
