"""Small helpers every layer may use and that know nothing of models or frames: user errors
(``errors``), files put in place whole (``atomic``), outputs checked against the inputs and
created without following links (``safewrite``), Ctrl-C/SIGTERM as a stop request
(``signals``), progress bars (``progress``, rich), the CPUs this process may use (``device``),
native C logs kept off stderr (``nativelogs``) and missing system libraries (``syslibs``)."""
