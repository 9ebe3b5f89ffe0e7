"""The web canvas and chat (``python -m pakati.server``, ``pakati serve``).

- :mod:`pakati.server.cli`: options, safety checks (loopback unless --token), uvicorn
- :mod:`pakati.server.app`: the FastAPI app, security guards, error mapping
- :mod:`pakati.server.routes_canvas`: state, layout, generate/regenerate/refine, lock,
  undo/redo, jobs, Server-Sent Events
- :mod:`pakati.server.routes_files`: history images, PNG download/import, projects, models
- :mod:`pakati.server.routes_chat`: the agent chat
- :mod:`pakati.server.workspace`: the canvas, its draft layout and snapshots (no HTTP)
- :mod:`pakati.server.jobs`: the one worker thread and the numbered event log
- :mod:`pakati.server.chat`: agent threads (checkpointed) and their transcripts
- :mod:`pakati.server.uploads`: upload limits and checks
- ``static/``: the page (plain JavaScript modules, no build step)
"""
