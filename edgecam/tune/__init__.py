"""``edgecam tune``: the most accurate model that reaches the frame rate a user needs, on
their device.

One module per job: ``options`` (what is asked), ``space`` (the candidates and what is known of
their accuracy), ``measure`` (files and frame-rate passes), ``accuracy`` (--data, --sample),
``latency`` (the MACs fit that picks what to measure), ``choose`` (the choice and the ladder),
``run`` (the budgeted search), ``report`` (JSON and table) and ``plot``.
"""

from edgecam.tune.options import TuneOptions, parse_list
from edgecam.tune.report import config_model_ref, render, to_json
from edgecam.tune.run import TuneResult, tune

__all__ = ["TuneOptions", "TuneResult", "config_model_ref", "parse_list", "render", "to_json",
           "tune"]
