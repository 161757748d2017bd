"""The torch-free runtime: an onnxruntime engine, preprocessing read from the model's metadata,
and postprocessing (softmax, top-k, temporal smoothing)."""
