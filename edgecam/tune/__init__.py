"""``edgecam tune``: the most accurate model that reaches the frame rate a user needs, on
their device, and ``live --profile``'s adaptation to it at run time.

One module per job: ``options`` (what is asked), ``space`` (the candidates and what is known of
their accuracy), ``measure`` (files and frame-rate passes), ``accuracy`` (--data, --sample),
``latency`` (the MACs fit that picks what to measure), ``choose`` (the choice and the ladder),
``search`` (the budgeted search), ``report`` (JSON and table), ``plot``, ``profiles`` (the
typed per-device profile tune writes and live reads) and ``adapt`` (stepping along it live).
"""
