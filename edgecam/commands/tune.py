"""``edgecam tune``: measure this device, choose, and keep what was chosen: the table, the
device's profile (``live --profile``), the JSON report and the plot."""

from __future__ import annotations

import json
from collections.abc import Callable

from edgecam.tune.chance import chance_warning, no_better_than_chance, not_saved_line
from edgecam.tune.profiles import Profile, device_info, save_profile, set_name
from edgecam.tune.report import render, to_json
from edgecam.tune.request import TuneOptions
from edgecam.tune.search import tune_device
from edgecam.util.safewrite import write_whole


def run_tune(opts: TuneOptions, note: Callable[[str], None]) -> list[str]:
    """Tune with ``opts`` (``note`` hears what happens meanwhile); the lines to print."""
    result = tune_device(opts, say=note)
    result_json = to_json(result, device_info())
    lines = [render(result, all_rows=opts.all_rows)]
    if weak := no_better_than_chance(result):
        note(chance_warning(result, opts.save_profile))
    if opts.save_profile and weak:
        lines.append(not_saved_line(result))
    elif opts.save_profile:
        name = opts.profile_name or set_name(opts.models, opts.weights, opts.families)
        saved = save_profile(Profile.of_result(result, result_json["device"], name))
        if saved.kept and saved.replaced is not None:
            lines.append(f"profile: kept {saved.path} ({saved.replaced.describe()}): this run "
                         "chose nothing, so it does not replace a profile that chose something")
        else:
            was = (f"; replaced {saved.replaced.describe()}" if saved.replaced is not None
                   else "")
            lines.append(f"profile: {saved.path} (live --profile {name}{was})")
    if opts.json_out:
        write_whole(opts.json_out, json.dumps(result_json, indent=2) + "\n")
        lines.append(f"JSON: {opts.json_out}")
    if opts.plot:
        from edgecam.tune.plot import plot

        lines.append(f"plot: {plot(result, opts.plot)}")
    return lines
