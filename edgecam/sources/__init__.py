"""Where frames come from, named by URI: ``factory.open_source`` turns ``0``, ``csi://0``,
``rtsp://...``, a video, pictures or ``synthetic://`` into a ``frames.Source`` that yields
``Frame``s. ``files`` gives every frame of files in order, ``camera`` the newest frame of a live
capture with reconnects, ``gstreamer`` GStreamer pipelines."""
