"""Package list: everything under keras_musicvae/, plus the top-level
presets/ folder installed as keras_musicvae/_presets (metadata: pyproject.toml)."""

from setuptools import find_packages
from setuptools import setup

setup(
    packages=find_packages(include=["keras_musicvae", "keras_musicvae.*"])
    + ["keras_musicvae._presets"],
    package_dir={"keras_musicvae._presets": "presets"},
)
