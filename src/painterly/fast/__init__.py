"""The fast path: feed-forward style networks (Johnson et al. 2016), trained once per style.

- :mod:`.network`: the image transformation network;
- :mod:`.train`: :class:`~.train.Trainer`, which fits it with painterly's perceptual loss;
- :mod:`.model_file`: `.painterly` files; :mod:`.library`: the shipped styles;
- :mod:`.apply`: :class:`~.apply.FastStylizer` (PyTorch or ONNX Runtime, tiles for big images);
- :mod:`.folders`, :mod:`.video`: many files and videos; :mod:`.onnx_export`: ONNX.
"""
