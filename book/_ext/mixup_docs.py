"""A local Sphinx extension of the book (``_config.yml``: ``sphinx.local_extensions``) for the API page.

autodoc documents every field of a ``NamedTuple`` as a member whose docstring is Python's generated
"Alias for field number N", which says nothing. Those members are skipped (the classes document their
fields in their own docstrings, under *Attributes*), and any such line left in a docstring is removed.
"""

from __future__ import annotations

import re

_ALIAS = re.compile(r"^\s*Alias for field number \d+\s*$")


def is_field_alias(obj) -> bool:
    """Whether ``obj`` is a namedtuple field accessor whose only documentation is the generated alias text."""
    doc = getattr(obj, "__doc__", None)
    return isinstance(doc, str) and bool(_ALIAS.match(doc))


def skip_field_aliases(app, what, name, obj, skip, options):
    """``autodoc-skip-member``: skip namedtuple field accessors; otherwise leave autodoc's decision."""
    return True if is_field_alias(obj) else None


def strip_alias_lines(app, what, name, obj, options, lines):
    """``autodoc-process-docstring``: drop "Alias for field number N" lines, in place."""
    lines[:] = [line for line in lines if not _ALIAS.match(line)]


def setup(app):
    app.connect("autodoc-skip-member", skip_field_aliases)
    app.connect("autodoc-process-docstring", strip_alias_lines)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
