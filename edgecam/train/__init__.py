"""Transfer learning on the user's own classes (imports torch; ``edgecam train`` only).

dataset.py reads the folder and draws the split, augment.py makes training views, features.py
computes and caches backbone vectors, head.py trains the new classifier on them, finetune.py
optionally trains the last stage too, evaluation.py scores the result, bars.py shows the
progress, trainer.py ties them together and writes the checked ONNX models.
"""
