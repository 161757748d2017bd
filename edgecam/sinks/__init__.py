"""Where results go. Every output is a ``Sink`` (open, write, end, close; ``base``) built
from a URI by one factory (``factory.open_sink``); a run (``edgecam.run``) owns its sinks. Files
appear at their final path only when whole."""
