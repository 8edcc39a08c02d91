"""Vision Transformer (Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words").

Follows big_vision / vit_jax: a patch-embedding conv, an optional class token, learned
position embeddings, pre-LayerNorm encoder blocks and a final LayerNorm before the head.
The position embeddings cover the class token too (as in vit_jax and timm), and their length
is taken from the image size the model is initialised with.
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxvision.models import layers
from jaxvision.ops.conv import ConvRules

CLASSIFIERS = ("token", "gap")

POSEMB_STDDEV = 0.02  # vit_jax's init of the learned position embeddings.
BIAS_STDDEV = 1e-6  # vit_jax's init of the MLP biases.


class MlpBlock(nn.Module):
    """Transformer MLP: Dense -> gelu -> dropout -> Dense back to the input width.

    Attributes:
      mlp_dim: hidden width.
      dropout_rate: dropout after the activation.
      dtype: compute dtype.
      param_dtype: parameter dtype.

    Example:
      >>> mlp = MlpBlock(mlp_dim=128)
      >>> y, _ = mlp.init_with_output(jax.random.key(0), jnp.ones((2, 5, 32)), True)
      >>> y.shape
      (2, 5, 32)
    """

    mlp_dim: int
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
        """Args: x: [b, n, d]; deterministic: disables dropout. Returns: [b, n, d]."""
        dense = functools.partial(
            nn.Dense,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=nn.initializers.xavier_uniform(),
            bias_init=nn.initializers.normal(stddev=BIAS_STDDEV),
        )
        width = x.shape[-1]
        x = nn.gelu(dense(self.mlp_dim, name="fc1")(x))  # [b, n, mlp_dim]
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)
        return dense(width, name="fc2")(x)  # [b, n, d]


class EncoderBlock(nn.Module):
    """Pre-LN transformer block: x + attn(LN(x)), then x + mlp(LN(x)).

    Attributes:
      num_heads: attention heads.
      mlp_dim: MLP hidden width.
      dropout_rate: dropout on each residual branch and inside the MLP.
      attention_dropout_rate: dropout on the attention weights.
      dtype: compute dtype.
      param_dtype: parameter dtype.

    Example:
      >>> block = EncoderBlock(num_heads=2, mlp_dim=64)
      >>> y, _ = block.init_with_output(jax.random.key(0), jnp.ones((2, 5, 32)), True)
      >>> y.shape
      (2, 5, 32)
    """

    num_heads: int
    mlp_dim: int
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
        """Args: x: [b, n, d]; deterministic: disables dropout. Returns: [b, n, d]."""
        layer_norm = functools.partial(nn.LayerNorm, dtype=self.dtype, param_dtype=self.param_dtype)
        dropout = nn.Dropout(rate=self.dropout_rate)

        y = layer_norm(name="norm1")(x)  # [b, n, d]
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=nn.initializers.xavier_uniform(),
            broadcast_dropout=False,
            dropout_rate=self.attention_dropout_rate,
            name="attn",
        )(y, y, deterministic=deterministic)  # [b, n, d]
        x = x + dropout(y, deterministic=deterministic)  # [b, n, d]

        y = layer_norm(name="norm2")(x)  # [b, n, d]
        y = MlpBlock(
            mlp_dim=self.mlp_dim,
            dropout_rate=self.dropout_rate,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="mlp",
        )(y, deterministic)  # [b, n, d]
        return x + dropout(y, deterministic=deterministic)  # [b, n, d]


def _check_inputs(x: jnp.ndarray, patch_size: int, classifier: str) -> None:
    """Raises ValueError for an unknown classifier, images not [b, h, w, c], or an image size
    that the patch size does not divide."""
    if classifier not in CLASSIFIERS:
        raise ValueError(f"Unknown classifier {classifier!r}; valid: {', '.join(CLASSIFIERS)}.")
    if x.ndim != 4:
        raise ValueError(f"ViT expects NHWC images [b, h, w, c], got shape {x.shape}.")
    h, w = x.shape[1:3]
    if h % patch_size or w % patch_size:
        raise ValueError(f"patch_size {patch_size} must divide the image size {h}x{w}.")


class ViT(nn.Module):
    """Vision Transformer classifier.

    Attributes:
      patch_size: side of the square patches; must divide the image height and width.
      hidden_size: token width.
      num_layers: encoder blocks.
      num_heads: attention heads per block.
      mlp_dim: MLP hidden width.
      num_classes: size of the logits.
      dropout_rate: dropout after the position embeddings, on residual branches and in MLPs.
      attention_dropout_rate: dropout on the attention weights.
      classifier: "token" (a learned class token, its final state feeds the head) or "gap"
        (global average of the patch tokens).
      dtype: compute dtype (e.g. jnp.bfloat16); the logits are float32 whatever it is.
      param_dtype: parameter dtype.
      remat: recompute each encoder block in the backward pass (`nn.remat`) to save memory.
      conv_impl: lowering of the patch-embedding conv (`layers.Conv`'s `impl`): "auto"
        (per backend and shape), a `jaxvision.ops.conv.ConvRules` ("auto" under those
        rules), "xla" or "im2col".
      head_zeroinit: start the head at zero (big_vision's default for training from scratch).

    Example:
      >>> model = ViT_Ti16(num_classes=1000)  # ViT_B16: the ImageNet config's
      >>> images = jnp.zeros((1, 224, 224, 3))
      >>> variables = model.init(jax.random.key(0), images, train=False)
      >>> logits = model.apply(variables, images, train=True,
      ...                      rngs={"dropout": jax.random.key(1)})
      >>> logits.shape
      (1, 1000)
    """

    patch_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    mlp_dim: int
    num_classes: int
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    classifier: str = "token"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    remat: bool = False
    head_zeroinit: bool = True
    conv_impl: str | ConvRules = "auto"

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = True) -> jnp.ndarray:
        """Runs the network.

        Args:
          x: images, [b, h, w, c] float.
          train: enables dropout (rng collection "dropout") when True.

        Returns:
          float32 logits, [b, num_classes].

        Raises:
          ValueError: for an unknown classifier or conv_impl, an input that is not rank 4,
            or an image size that the patch size does not divide.
        """
        _check_inputs(x, self.patch_size, self.classifier)
        b, p = x.shape[0], self.patch_size
        deterministic = not train

        x = jnp.asarray(x, self.dtype)  # [b, h, w, c]
        x = layers.Conv(
            self.hidden_size,
            (p, p),
            strides=(p, p),
            padding="VALID",
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            impl=self.conv_impl,
            name="embedding",
        )(x)  # [b, h/p, w/p, d]
        x = jnp.reshape(x, (b, -1, self.hidden_size))  # [b, n, d]

        if self.classifier == "token":
            cls = self.param(
                "cls", nn.initializers.zeros, (1, 1, self.hidden_size), self.param_dtype
            )
            cls = jnp.tile(jnp.asarray(cls, self.dtype), (b, 1, 1))  # [b, 1, d]
            x = jnp.concatenate([cls, x], axis=1)  # [b, n + 1, d]

        posemb = self.param(
            "pos_embedding",
            nn.initializers.normal(stddev=POSEMB_STDDEV),
            (1, x.shape[1], self.hidden_size),
            self.param_dtype,
        )  # [1, n (+ 1), d]
        x = x + jnp.asarray(posemb, self.dtype)  # [b, n (+ 1), d]
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)

        # Module index 0 is `self`, so `deterministic` (a Python bool) is argument 2.
        block_cls = nn.remat(EncoderBlock, static_argnums=(2,)) if self.remat else EncoderBlock
        for i in range(self.num_layers):
            x = block_cls(
                num_heads=self.num_heads,
                mlp_dim=self.mlp_dim,
                dropout_rate=self.dropout_rate,
                attention_dropout_rate=self.attention_dropout_rate,
                dtype=self.dtype,
                param_dtype=self.param_dtype,
                name=f"encoderblock_{i}",
            )(x, deterministic)  # [b, n (+ 1), d]
        x = nn.LayerNorm(dtype=self.dtype, param_dtype=self.param_dtype, name="encoder_norm")(x)

        if self.classifier == "token":
            x = x[:, 0]  # [b, d]
        else:
            x = jnp.mean(x.astype(jnp.float32), axis=1)  # [b, d]
        head_init = nn.initializers.zeros if self.head_zeroinit else nn.initializers.lecun_normal()
        return nn.Dense(
            self.num_classes,
            dtype=jnp.float32,
            param_dtype=self.param_dtype,
            kernel_init=head_init,
            name="head",
        )(x.astype(jnp.float32))  # [b, num_classes]


ViT_Ti16 = functools.partial(
    ViT, patch_size=16, hidden_size=192, num_layers=12, num_heads=3, mlp_dim=768
)
ViT_Ti32 = functools.partial(
    ViT, patch_size=32, hidden_size=192, num_layers=12, num_heads=3, mlp_dim=768
)
ViT_S16 = functools.partial(
    ViT, patch_size=16, hidden_size=384, num_layers=12, num_heads=6, mlp_dim=1536
)
ViT_S32 = functools.partial(
    ViT, patch_size=32, hidden_size=384, num_layers=12, num_heads=6, mlp_dim=1536
)
ViT_B16 = functools.partial(
    ViT, patch_size=16, hidden_size=768, num_layers=12, num_heads=12, mlp_dim=3072
)
ViT_B32 = functools.partial(
    ViT, patch_size=32, hidden_size=768, num_layers=12, num_heads=12, mlp_dim=3072
)
