"""Set it up from the browser: the preview page's region editor, captures per region, and a
train button whose new model the running ``live`` switches to without a restart.

``session.Studio`` is what the preview's JSON API (``edgecam.sinks.preview_api``) drives;
``switch.ModelSwitch`` is the pipeline's controller that applies its changes between frames;
``layout`` keeps the edited regions (the ``--region`` line, ``sitefile`` writes them back to
the site file); ``job.TrainJob`` runs ``edgecam train`` then ``edgecam tune`` as subprocesses
on the capture folder, split by ``heldout``.
"""
