"""Model files: the catalog of architectures and published figures (``catalog``, no torch),
the metadata every ONNX file carries (``metadata``), ImageNet labels, the PyTorch zoo
(``zoo``), weight files (``download``), export with its parity check (``export``), the local
store that resolves names to files and exports on first use (``store``) and the rows of
``edgecam models`` (``table``)."""
