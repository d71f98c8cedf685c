"""Packaging that setup.cfg cannot say: wsdl/ and mappings/ stay at the top of the repository but
install as the packages gateway.wsdl and gateway.mappings (their files as package data), so
every kind of install (a wheel, pipx, a container, `pip install -e .`) finds them with
importlib.resources.
"""

from setuptools import find_packages, setup

DATA_PACKAGES = {"gateway.wsdl": "wsdl", "gateway.mappings": "mappings"}

setup(
    packages=find_packages(include=["gateway", "gateway.*"]) + list(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
)
