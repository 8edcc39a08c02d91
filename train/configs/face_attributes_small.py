"""Face attributes and 5-point landmarks on the built-in ``jaxvision_faces_identity`` crops.

A small ResNet with a landmark head and an attribute head (``face_analysis``) on the
64x64 crops (``aligned64``): 1,000 training identities, evaluated on the 200 held-out
ones. Eval lines carry ``attribute_accuracy`` (mean over Male, Young, Smiling,
Eyeglasses), ``attribute_accuracy/<name>`` and ``landmark_nme`` (inter-ocular).
Sized to finish within 15 minutes on a 2-core CPU.

Run:
  python -m train --config=train/configs/face_attributes_small.py --workdir=runs/face_attributes

On the TFDS ``celeb_a`` (218x178 aligned photos; prepared in ``--config.dataset.data_dir``):
  python -m train --config=train/configs/face_attributes_small.py --workdir=runs/celeba_attr \
    --config.dataset.name=celeb_a --config.dataset.eval_split=validation \
    --config.dataset.train_pp="resize(64)|flip_face" --config.dataset.eval_pp="resize(64)"
"""

import ml_collections

from train.configs import face_analysis_common


def get_config():
    c = face_analysis_common.face_analysis_config("face_attributes", "face_analysis")
    c.total_steps = 1800
    c.eval_every = 600
    c.checkpoint_every = 600
    c.model.kwargs.hidden = 256
    c.face_attributes = ml_collections.ConfigDict()
    c.face_attributes.attributes = ("Male", "Young", "Smiling", "Eyeglasses")
    c.face_attributes.landmark_weight = 10.0
    c.face_attributes.attribute_weight = 1.0
    c.optimizer.weight_decay = 1e-4
    return c
