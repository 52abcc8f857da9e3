"""The image pipeline's pixel operations, below models/, experiment/ and report/.

- :mod:`~breastbench.imaging.resize`: the one resize (:func:`resize_to`) and the resize rules
  (``squash``, ``crop``, ``pad``); :func:`prepare` stain-normalises and resizes a decoded image.
- :mod:`~breastbench.imaging.stain`: Macenko stain normalisation.
- :mod:`~breastbench.imaging.transforms`: the augmentation presets and the one normalisation
  (mean/std) that turns a uint8 image into a model input tensor.
- :mod:`~breastbench.imaging.perturb`: test-time perturbations of the robustness evaluation.

Decoding a file is :func:`breastbench.data.read_image`; the preprocessing record
(:class:`breastbench.models.preprocess.Preprocessing`) joins the two and gives the transform
for training, evaluation, the image cache, ``predict`` and the explainability maps.
"""
