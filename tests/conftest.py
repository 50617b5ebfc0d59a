"""Property tests draw the same examples on every run (a new random draw must not turn CI red on a change that did not
cause it); `HYPOTHESIS_PROFILE=explore python -m pytest tests/test_properties.py tests/test_equity.py` draws new ones."""

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
