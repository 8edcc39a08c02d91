"""SRResNet x4 (PSNR-oriented) on the built-in photos, sized for CPU minutes.

HR patches of 96 px (LR 24 px) cut from the training photographs, LR made by antialiased
bicubic downsampling (as PIL's ``Image.resize(..., BICUBIC)``); evaluated on the three held-out
photographs against bicubic upsampling, PSNR and SSIM on the Y channel with a border of 4
(the super-resolution convention). ``srgan_small.py`` starts from this run.

Run:
  python -m train --config=train/configs/srresnet_small.py --workdir=runs/srresnet_small

On DIV2K (``tfds build div2k/bicubic_x4 --file_format=array_record``):
  python -m train --config=train/configs/srresnet_small.py --workdir=runs/srresnet_div2k \
    --config.dataset.name=div2k/bicubic_x4 --config.dataset.eval_split=validation \
    --config.degradation.kind=none \
    --config.dataset.train_pp="rename(lr='input', hr='target')|paired_random_crop(96, 4)|flip_lr" \
    --config.dataset.eval_pp="rename(lr='input', hr='target')|pad_to_canvas(2048, 2048, 4)"
"""

from train.configs import restoration_common


def get_config():
    c = restoration_common.restoration_config()
    c.total_steps = 2200
    c.model.name = "srresnet"
    c.model.kwargs.num_blocks = 6
    c.model.kwargs.features = 32
    # Learn a correction of bicubic upsampling: training starts from bicubic's PSNR.
    c.model.kwargs.bicubic_residual = True
    c.degradation.kind = "bicubic"
    c.degradation.scale = 4
    c.restoration.loss = "l1"
    c.restoration.eval_border = 4
    c.restoration.eval_y_channel = True
    # Chosen on the validation split (jaxvision_photos/tune); benchmarks/RESULTS.md.
    c.optimizer.learning_rate = 4e-3
    c.dataset.train_pp = "random_crop(96)|flip_lr|rot90"
    return c
