"""Small helpers every layer may use and that know nothing of models or frames: user errors
(``errors``), files put in place whole, never through a link (``atomic``: every writer's one
way), outputs checked against the inputs before any work (``safewrite``), Ctrl-C, SIGTERM and
SIGHUP as a stop request (``signals``), the one rule for a class name (``classname``), progress
bars (``progress``, rich), the CPUs this process may use (``device``), native C logs kept off
stderr (``nativelogs``) and missing system libraries (``syslibs``)."""
