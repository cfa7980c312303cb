"""The executables: one screen each (declare, configure, convert, call the core, publish); ``pipeline`` runs the
three in one process."""
