"""`python -m camviz` is the `camviz` command."""

from camviz.cli import entry

entry()
