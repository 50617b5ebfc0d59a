"""``python -m allocator`` is the ``allocate`` command."""

from allocator.cli import main

main()
