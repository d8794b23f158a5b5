"""The rules, one module each, all of one shape: a config model and a class with
``update(analysed) -> findings`` and ``close(ts) -> findings``. ``registry`` binds them to zones."""
