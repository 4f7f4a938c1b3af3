"""``python -m engine`` is the ``stom`` command."""

import sys

from engine.cli.main import main

sys.exit(main())
