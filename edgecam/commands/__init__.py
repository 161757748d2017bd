"""The commands' work, one module each, called by ``edgecam.cli`` with a checked options object
(``options``: every default and every check once) and returning a summary that words the lines
the CLI prints: ``classify`` (+ ``classify_cluster`` on Dask, ``classify_units`` shared by
both), ``live``, ``bench``, ``demo`` (+ ``democlip``), ``capture``, ``tune``, ``train`` and
``modelfile`` (export and quantize). Each run reads as one loop over a ``Run``
(``edgecam.run``). ``flags`` declares every option, ``console`` the terminal's rules."""
