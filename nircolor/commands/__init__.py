"""One module per group of subcommands: each registers its parsers (`register(sub)`) and holds
the functions they call, which parse nothing and hand off to one room (models, export, runtime).
Options shared between commands, and their choices from the registries, are in options.py."""

from . import bench, export, models, run, train

# In the order `nircolor --help` lists them.
MODULES = (train, models, export, run, bench)
