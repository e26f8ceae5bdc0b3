"""``python -m refclient`` runs the ``mailcompat`` command line."""

import sys

from refclient.cli import main

sys.exit(main())
