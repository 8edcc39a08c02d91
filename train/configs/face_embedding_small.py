"""Face recognition (ArcFace) on the built-in ``jaxvision_faces_identity`` crops.

A small ResNet embedding (``face_embedding``: BN, FC to 128, BN) trained with the ArcFace
loss on the 1,000 training identities of the 64x64 crops (``aligned64``), each crop first
aligned on the device to ArcFace's 5-point template by its landmarks. Evaluated on the 200
held-out identities as LFW-style verification: 6,000 balanced pairs, threshold by 10-fold
cross-validation. Eval lines carry ``verification_accuracy``. Sized to finish within 15
minutes on a 2-core CPU.

Run:
  python -m train --config=train/configs/face_embedding_small.py --workdir=runs/face_embedding

On your own aligned crops, one folder a person, different people in train and test
(``PATH/train/<person>/*.jpg``, ``PATH/test/<person>/*.jpg``; ``jaxvision.faces.align``
makes such crops from photos):
  python -m train --config=train/configs/face_embedding_small.py --workdir=runs/my_faces \
    --config.dataset.name=identity_folder --config.dataset.data_dir=PATH \
    --config.face_embedding.align=False --config.dataset.train_pp="resize(64)|flip_face" \
    --config.dataset.eval_pp="resize(64)"

On the TFDS ``lfw`` (one split; its labels are person names, mapped to ids by ``text_label``
with a file of the training people's names, one a line; its 250x250 images hold the face in
their middle; slices of its split may share people, unlike LFW's own pairs):
  PP="center_crop(112)|resize(64)"
  python -m train --config=train/configs/face_embedding_small.py --workdir=runs/lfw \
    --config.dataset.name=lfw --config.dataset.train_split="train[:80%]" \
    --config.dataset.eval_split="train[80%:]" --config.face_embedding.align=False \
    --config.face_embedding.num_classes=NUMBER_OF_NAMES \
    --config.dataset.train_pp="text_label(vocabulary='names.txt')|$PP|flip_face" \
    --config.dataset.eval_pp="text_label|$PP"
"""

import ml_collections

from train.configs import face_analysis_common


def get_config():
    c = face_analysis_common.face_analysis_config("face_embedding", "face_embedding")
    c.total_steps = 1200
    c.eval_every = 400
    c.checkpoint_every = 400
    c.model.kwargs.embedding_dim = 128
    c.face_embedding = ml_collections.ConfigDict()
    c.face_embedding.num_classes = 0  # the dataset's identities
    c.face_embedding.scale = 32.0
    c.face_embedding.margin = 0.3
    c.face_embedding.easy_margin = False
    c.face_embedding.align = True
    c.face_embedding.align_size = 0  # the crop's own size
    c.face_embedding.flip_test = True
    c.face_embedding.num_pairs = 6000
    c.face_embedding.pair_seed = 0
    c.face_embedding.num_folds = 10
    c.optimizer.weight_decay = 5e-4
    return c
