"""Regularised autoencoders: the method family of notebook 04, one module per idea.

Source of the landscape: Prathosh A.P., "The landscape of Regularized Auto-Encoders for generative
modeling", lecture slides, IIT Delhi (no public link); each module cites the papers it implements.

- `autoencoders`  `Autoencoder`, `RAE` (squared-error cost, `paper_weights`) and  (Ghosh et al. 2020)
                  the ex-post density `ExPostGMM`
- `wae`           `WAE_MMD`                                                     (Tolstikhin et al. 2018)
- `adversarial`   `AAE`, `WAE_GAN`, their `LatentDiscriminator`                 (Makhzani et al. 2016;
                                                                                 Tolstikhin et al. 2018)
- `two_stage`     `TwoStageVAE`, `stage2_loss_fn`                               (Dai & Wipf 2019)
- `flows`         `FlowVAE`: a VAE whose posterior is refined by IAF steps,     (Kingma et al. 2016)
                  trained with free bits if asked (`free_bits`)
- `iop`           `VAE_IOP`: the implicit optimal prior by a density ratio      (Takahashi et al. 2019)
- `maskaae`       `MaskAAE`, its `MaskLayer`, the WGAN-GP `LatentCritic` and     (Mondal et al. 2020;
                  `gradient_penalty`                                            Gulrajani et al. 2017)
- `flexae`        `FlexAE` and its learned prior `PriorGenerator`               (Mondal et al. 2021)

The adversarial models and VAE-IOP train with `train(model, x, loss_fn=adversarial_loss_fn,
optimizer=torch.optim.Adam(model.main_parameters(), lr))`: the discriminator steps first with its own
optimiser, then the model's loss is taken against it with its weights frozen.
"""
from .adversarial import AAE, WAE_GAN, LatentDiscriminator, discriminator_loss, generator_loss
from ..adversary import adversarial_loss_fn
from .autoencoders import RAE, Autoencoder, ExPostGMM, decoder_gradient_penalty
from .flexae import FlexAE, PriorGenerator
from .flows import IAF, FlowVAE, IAFStep
from .iop import VAE_IOP
from .maskaae import LatentCritic, MaskAAE, MaskLayer, gradient_penalty
from .two_stage import TwoStageVAE, stage2_loss_fn
from .wae import WAE_MMD

__all__ = ["AAE", "WAE_GAN", "LatentDiscriminator", "discriminator_loss", "generator_loss", "adversarial_loss_fn",
           "RAE", "Autoencoder", "ExPostGMM", "decoder_gradient_penalty", "IAF", "FlowVAE", "IAFStep", "VAE_IOP",
           "TwoStageVAE", "stage2_loss_fn", "WAE_MMD", "MaskAAE", "MaskLayer", "LatentCritic", "gradient_penalty",
           "FlexAE", "PriorGenerator"]
