"""The mapping files (one TOML file per REST resource), installed as the package gateway.mappings.

Nothing to import: the package exists so that the files ship inside every install (a wheel, pipx,
a container) and are found with importlib.resources.
"""
