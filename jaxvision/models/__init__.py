"""Model registry: architecture variants by name.

Example:
  >>> from jaxvision import models
  >>> model = models.get_model("resnet50", num_classes=10, dtype=jnp.bfloat16)
"""

from collections.abc import Callable

import flax.linen as nn

from jaxvision.models import (
    adain,
    deblurgan,
    deeplab,
    denoise,
    face_analysis,
    face_embedding,
    maskrcnn,
    mtcnn,
    resnet,
    retinaface,
    srgan,
    transform_net,
    unet,
    unet_resnet,
    vgg,
    vit,
)

MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet_tiny": resnet.ResNetTiny,
    "resnet18": resnet.ResNet18,
    "resnet34": resnet.ResNet34,
    "resnet50": resnet.ResNet50,
    "resnet101": resnet.ResNet101,
    "resnet152": resnet.ResNet152,
    "vit_ti16": vit.ViT_Ti16,
    "vit_ti32": vit.ViT_Ti32,
    "vit_s16": vit.ViT_S16,
    "vit_s32": vit.ViT_S32,
    "vit_b16": vit.ViT_B16,
    "vit_b32": vit.ViT_B32,
    "denoising_autoencoder": denoise.DenoisingAutoencoder,
    "dncnn": denoise.DnCNN,
    "deblurgan_generator": deblurgan.DeblurGANGenerator,
    "patchgan": deblurgan.PatchGANDiscriminator,
    "srresnet": srgan.SRResNetX4,
    "srresnet_x2": srgan.SRResNetX2,
    "srgan_discriminator": srgan.SRGANDiscriminator,
    "vgg19": vgg.VGG19,
    "transform_net": transform_net.TransformNet,
    "adain_decoder": adain.AdaINDecoder,
    "unet": unet.UNet,
    "unet_small": unet.UNetSmall,
    "unet_resnet": unet_resnet.ResNetUNet,
    "deeplabv3plus": deeplab.DeepLabV3Plus,
    "deeplabv3plus_resnet18": deeplab.DeepLabV3PlusResNet18,
    "deeplabv3plus_resnet50": deeplab.DeepLabV3PlusResNet50,
    "deeplabv3plus_resnet101": deeplab.DeepLabV3PlusResNet101,
    "maskrcnn_resnet18_fpn": maskrcnn.MaskRCNNResNet18FPN,
    "maskrcnn_resnet50_fpn": maskrcnn.MaskRCNNResNet50FPN,
    "retinaface_resnet18_fpn": retinaface.RetinaFaceResNet18FPN,
    "retinaface_resnet50_fpn": retinaface.RetinaFaceResNet50FPN,
    "face_analysis": face_analysis.FaceAnalysisNet,
    "face_embedding": face_embedding.FaceEmbeddingNet,
    "mtcnn_pnet": mtcnn.PNet,
    "mtcnn_rnet": mtcnn.RNet,
    "mtcnn_onet": mtcnn.ONet,
}


def get_model(name: str, **kwargs) -> nn.Module:
    """Builds a registered model.

    Args:
      name: a key of `MODELS`, e.g. "resnet50" or "vit_b16".
      **kwargs: module fields, passed through (num_classes, dtype, stem, ...); they override
        the variant's own (e.g. `num_filters` for a ResNet).

    Returns:
      The (unbound) flax module.

    Raises:
      ValueError: for an unknown name; the message lists the valid ones.

    Example:
      >>> model = get_model("resnet18", num_classes=10, stem="cifar")
      >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}.")
    return MODELS[name](**kwargs)


__all__ = ["MODELS", "get_model"]
