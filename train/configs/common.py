"""The keys every config shares, with their defaults (imported by the config files)."""

from __future__ import annotations

import ml_collections

from jaxvision import optim
from jaxvision.engine import sharding


def base_config() -> ml_collections.ConfigDict:
    """A config with every engine key; config files override what they need.

    Keys:
      task: a name from ``jaxvision.tasks.TASKS``, or ``"package.module:Class"`` for a task
        of your own.
      total_steps: optimizer micro-steps of the run.
      batch_size: global training batch size (over all devices and processes).
      eval_batch_size: global eval batch size (the last batch is padded and masked).
      seed: seeds initialisation, data order, augmentation and dropout.
      log_every: steps between train lines in metrics.jsonl (and NaN checks).
      eval_every: steps between evaluations (0: only at the end).
      checkpoint_every: steps between checkpoints.
      keep_checkpoints: how many recent checkpoints to keep.
      label_smoothing: classification target smoothing.
      model: ``name`` (``jaxvision.models.MODELS``), ``dtype`` of compute and
        ``kwargs`` passed to the model. ``dtype``: float32; bfloat16 (float32 master
        weights, no loss scaling needed); float16 (float32 master weights and dynamic
        loss scaling: ``optimizer.initial_loss_scale``, ``optimizer.loss_scale_period``;
        the ``loss_scale`` metric is logged). ``kwargs`` here are ResNet's and ViT's:
        ``conv_impl`` ("auto" | "xla" | "im2col": the lowering of every conv,
        ``jaxvision.ops.conv``) and ``remat`` (recompute each block in the backward pass,
        ``jax.checkpoint``: less activation memory, ~1/3 more compute). A config that
        switches to another model family replaces ``model.kwargs`` with that family's.
      optimizer: the optimizer of every trained network without one of its own in
        ``optimizers``; see ``jaxvision.optim.default_config``.
      optimizers: network name -> its own optimizer sub-tree (a GAN's ``generator`` and
        ``discriminator``); empty for one-network tasks.
      ema: network name -> decay of an exponential moving average of its parameters (0: no
        EMA); evaluation and prediction use the average. One-network tasks: ``ema.model``.
      evaluators: names of the task's evaluators to run at eval time (empty: all of them).
      init_from: ``workdir`` of another run and ``networks`` (this run's network -> that
        run's) to start those networks from that run's latest checkpoint (a pre-training
        phase; ``jaxvision.engine.init_from``); ``workdir=""`` starts from scratch.
      sharding: how the train state (params, optimizer state, model state) lies on the
        devices: "replicated" (data parallel) or "fsdp" (each leaf of at least
        ``fsdp_min_size`` elements split over the ``data`` axis along its largest
        divisible dimension; XLA gathers what each step needs). See
        ``jaxvision.engine.sharding``.
      fsdp_min_size: smallest leaf, in elements, that "fsdp" shards (default 2**16).
      compiler_options: XLA options of the compiled train / eval / predict steps of
        ``python -m train``, over the host's defaults (``train/host_tuning.py``: on the CPU,
        convolutions by XLA rather than YNNPACK, and no YNNPACK fusion in eval / predict);
        an option set here applies to all three. ``use_defaults=False`` starts from none;
        add an option in a config file as ``c.compiler_options.<xla option> = value`` (""
        drops one).
      dataset: ``name``, ``data_dir``, ``train_split``, ``eval_split``, the
        preprocessing specs ``train_pp`` / ``eval_pp`` (``jaxvision.data.preprocess``)
        and loader settings.
    """
    c = ml_collections.ConfigDict()
    c.task = "classification"
    c.total_steps = 1000
    c.batch_size = 128
    c.eval_batch_size = 256
    c.seed = 0
    c.log_every = 50
    c.eval_every = 0
    c.checkpoint_every = 500
    c.keep_checkpoints = 3
    c.label_smoothing = 0.0
    c.sharding = sharding.DEFAULT_RULE
    c.fsdp_min_size = sharding.DEFAULT_FSDP_MIN_SIZE
    c.compiler_options = ml_collections.ConfigDict({"use_defaults": True})

    c.model = ml_collections.ConfigDict()
    c.model.name = "resnet18"
    c.model.dtype = "float32"
    c.model.kwargs = ml_collections.ConfigDict()
    c.model.kwargs.conv_impl = "auto"
    c.model.kwargs.remat = False

    c.optimizer = optim.default_config()
    c.optimizers = ml_collections.ConfigDict()
    c.ema = ml_collections.ConfigDict({"model": 0.0})
    c.evaluators = ()
    c.init_from = ml_collections.ConfigDict({"workdir": "", "networks": {}})

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "jaxvision_shapes/classification"
    c.dataset.data_dir = ""
    c.dataset.train_split = "train"
    c.dataset.eval_split = "test"
    c.dataset.train_pp = "flip_lr"
    c.dataset.eval_pp = ""
    c.dataset.worker_count = 0
    c.dataset.read_threads = 8
    c.dataset.prefetch_buffer_size = 256
    return c
