"""``python -m pakati`` runs the command line."""

from pakati.cli import main

raise SystemExit(main())
