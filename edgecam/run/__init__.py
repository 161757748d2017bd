"""A run, the one door every command and ``edgecam.predict`` go through: ``driver.Run`` opens the
model (engine and unknown rule) and the outputs, feeds sources through pipelines to the sinks
and closes it whole; ``predict`` is the public iterator over a run's results."""
