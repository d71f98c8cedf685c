"""ONVIF's WSDL and XSD files (see README.md here), installed as the package gateway.wsdl.

Nothing to import: the package exists so that the files ship inside every install (a wheel, pipx,
a container) and are found with importlib.resources.
"""
