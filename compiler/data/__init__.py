"""Model inputs: samples, datasets and splits, below the passes and the engines that use them.

- ``datasets``: ``Dataset`` (the samples of each input stacked, optional
  labels) and the loaders of images, .npz/.npy files and directories;
- ``preprocess``: ``Preprocess``, how images become inputs;
- ``samples``: seeded random inputs, an .npz's samples and a ``Dataset``'s
  first samples, each a ``Dataset`` that says where it came from, and the
  samples reserved from the compression passes;
- ``split``: the share of ``--calibration-data`` held out to judge the build.
"""
