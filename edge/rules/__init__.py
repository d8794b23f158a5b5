"""The rules, one module each, all of one shape (``base.Rule``): a config model and a class built as
``Rule(zone, config, context)`` with ``update(analysed) -> Verdict`` and ``close(ts) -> findings``.
``registry`` lists them, one row each, and binds them to zones; ``bound`` writes what they keep."""
