"""``python -m pakati.server``: start the web canvas on http://localhost:8000."""

import sys

from pakati.server.cli import main

sys.exit(main())
