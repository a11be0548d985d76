"""Model inputs: samples, datasets and splits, below the passes and the engines that use them.

- ``datasets``: ``Dataset`` (the samples of each input stacked, optional
  labels) and the loaders of images, .npz/.npy files and directories;
- ``preprocess``: ``Preprocess``, how images become inputs;
- ``samples``: ``SampleSet`` (the samples as feeds, in order, with where they
  came from), seeded random inputs, a ``Dataset``'s samples as a
  ``SampleSet``, and the samples reserved from the compression passes;
- ``split``: the share of ``--calibration-data`` held out to judge the build.
"""
