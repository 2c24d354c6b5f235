"""Regularised autoencoders: the method family of notebook 04, one module per idea.

Source of the landscape: Prathosh A.P., "The landscape of Regularized Auto-Encoders for generative
modeling", lecture slides, IIT Delhi (no public link); each module cites the papers it implements.

- `autoencoders`  `Autoencoder`, `RAE` and the ex-post density `ExPostGMM`     (Ghosh et al. 2020)
- `wae`           `WAE_MMD`                                                     (Tolstikhin et al. 2018)
- `two_stage`     `TwoStageVAE`, `stage2_loss_fn`                               (Dai & Wipf 2019)
"""
from .autoencoders import RAE, Autoencoder, ExPostGMM, decoder_gradient_penalty
from .two_stage import TwoStageVAE, stage2_loss_fn
from .wae import WAE_MMD
# helper B: adversarial (AAE, WAE-GAN: Makhzani et al. 2016; Tolstikhin et al. 2018), flows (VAE + IAF: Kingma
# et al. 2016), iop (VAE-IOP: Takahashi et al. 2019); `adversarial_loss_fn` trains all three with train().
from .adversarial import AAE, WAE_GAN, LatentDiscriminator, discriminator_loss, generator_loss
from .adversarial import loss_fn as adversarial_loss_fn
from .flows import IAF, FlowVAE, IAFStep
from .iop import VAE_IOP
