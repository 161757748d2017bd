"""The commands' work, one module each, called by ``edgecam.cli`` with an options object
(``options``: every default and every check once) and returning a summary the CLI prints:
``classify`` (+ ``classify_cluster`` on Dask, ``classify_units`` shared by both), ``live``,
``bench``, ``demo`` (+ ``democlip``) and ``capture``. Each reads as one loop over results
written to a run's ``Outputs``."""
