"""A PEP 517 build backend in the standard library, so that `pip install ./clients/python` needs nothing from an
index: no setuptools, no wheel (a Python 3.12+ venv has neither; setuptools before 70.1 also needs `wheel` to build
one). It builds a pure-Python wheel of the `taskhub` package and the `taskhub_worker` module, an sdist, and an
editable wheel (a .pth file pointing at this folder)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "taskhub"
SUMMARY = "Taskhub client, worker and Celery-style layer: standard library only"
REQUIRES_PYTHON = ">=3.9"
MODULES = ["taskhub_worker.py"]
PACKAGES = ["taskhub"]


def _version() -> str:
    with open(os.path.join(ROOT, "taskhub", "__init__.py"), encoding="utf-8") as f:
        match = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    if not match:
        raise RuntimeError("taskhub/__init__.py has no __version__")
    return match.group(1)


def _metadata() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\nVersion: {_version()}\nSummary: {SUMMARY}\nLicense: MIT\n"
        f"Requires-Python: {REQUIRES_PYTHON}\nClassifier: Programming Language :: Python :: 3\n"
        "Description-Content-Type: text/markdown\n\n" + readme
    )


def _sources():
    for module in MODULES:
        yield module, os.path.join(ROOT, module)
    for package in PACKAGES:
        for folder, _dirs, files in os.walk(os.path.join(ROOT, package)):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    yield os.path.relpath(path, ROOT).replace(os.sep, "/"), path


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(directory: str, files) -> str:
    version = _version()
    dist_info = f"{NAME}-{version}.dist-info"
    filename = f"{NAME}-{version}-py3-none-any.whl"
    entries = list(files) + [
        (f"{dist_info}/METADATA", _metadata().encode()),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: taskhub_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{dist_info}/top_level.txt", ("\n".join(PACKAGES + [m[:-3] for m in MODULES]) + "\n").encode()),
    ]
    record = "".join(f"{path},{_digest(data)},{len(data)}\n" for path, data in entries) + f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(directory, filename), "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in entries + [(f"{dist_info}/RECORD", record.encode())]:
            wheel.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return filename


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, [(path, _read(source)) for path, source in _sources()])


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, [(f"_{NAME}_editable.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{_version()}"
    filename = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        extra = [("pyproject.toml", os.path.join(ROOT, "pyproject.toml")), ("README.md", os.path.join(ROOT, "README.md")),
                 ("_build/taskhub_build.py", os.path.abspath(__file__))]
        for path, source in list(_sources()) + extra:
            tar.add(source, arcname=f"{base}/{path}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return filename
