"""Map the repository's product folders into the one import namespace `kiln`."""

from pathlib import Path

from setuptools import setup

ROOTS = {"kiln": "sdk", "kiln.hw": "hw", "kiln.sim": "sim", "kiln.drivers": "drivers"}


def _packages():
    packages, package_dir = [], {}
    for name, folder in ROOTS.items():
        package_dir[name] = folder
        for init in sorted(Path(folder).rglob("__init__.py")):
            rel = init.parent.relative_to(folder).parts
            packages.append(".".join((name, *rel)))
    return packages, package_dir


packages, package_dir = _packages()
setup(packages=packages, package_dir=package_dir, include_package_data=True,
      package_data={"": ["*.onnx", "*.json", "*.npz", "*.v", "*.txt"]})
