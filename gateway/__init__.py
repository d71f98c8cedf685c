"""ONVIF SOAP-to-REST gateway: a small JSON REST API in front of ONVIF cameras and video devices."""
