"""The loop: frames of a source -> preprocess -> engine -> postprocess (-> overlay) ->
``Result``s, yielded in order (``loop.Pipeline.results``; ``predict.predict`` is the public
iterator, ``edgecam.predict``). ``result`` holds what every consumer gets (Result, Stats),
``model`` the engine with its pre/postprocessing and the controller hook, ``cameras`` several
live cameras in one loop, ``metrics`` the FPS and stage times, ``overlay`` the drawing."""
