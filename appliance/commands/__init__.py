"""CLI subcommands beyond the core ones in ``appliance/cli.py``.

Each module has ``register(subparsers)``, which adds its parser(s) with
``set_defaults(func=...)``; ``func(args)`` returns the exit code (0 ok, 1 failed
operation, 2 bad input) or raises :class:`appliance.errors.VScannerError`. Import heavy
modules inside ``func`` so ``vscanner --help`` stays fast. Common options available on
``args``: ``verbose``, ``profile_dir``, ``config`` (pass it to
:func:`appliance.config.load_site_config`).
"""
