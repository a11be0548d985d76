"""edgec's built-in backends, each a plugin like any other (entry points in the group ``edgec.backends``).

A backend imports nothing of edgec but ``edgec.plugin`` (a test checks it);
the core never imports a backend package: it finds backends through
``edgec.backend_registry``.
"""
