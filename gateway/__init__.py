"""ONVIF SOAP-to-REST gateway: a small JSON REST API in front of ONVIF cameras and video devices."""

# The one place the version is written: setup.cfg reads it (version = attr: gateway.__version__).
__version__ = "0.1.0"
