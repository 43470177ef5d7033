"""A tiny FLUX.1 Kontext pipeline built in code and saved in diffusers format.

No download: the transformer, VAE, CLIP and T5 encoders come from small configs with random
weights, and both tokenizers are `PreTrainedTokenizerFast` over a word-level vocabulary
written here. The saved directory loads through exactly the production path
(`IMAGINE_DIFFUSERS_MODEL=<dir>`).
"""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "make", "the", "sky", "blue", "red", "a", "photo", "of", "cat", "dog", "turn", "into",
    "painting", "add", "hat", "remove", "background", "warm", "light", "night",
]  # fmt: skip


def _tokenizer(max_length: int) -> object:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab = {token: i for i, token in enumerate(special + WORDS)}
    model = models.WordLevel(vocab=vocab, unk_token="<unk>")
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        model_max_length=max_length,
    )


def save_tiny_kontext(directory: Path, *, layers: int = 1) -> Path:
    """Build a tiny random-weight Kontext pipeline and `save_pretrained` it to `directory`."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(0)
    vocab = 4 + len(WORDS)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=layers,
        num_single_layers=layers,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=16,
        pooled_projection_dim=16,
        axes_dims_rope=[2, 2, 4],
        guidance_embeds=True,
    )
    clip = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=2,
            eos_token_id=3,
            pad_token_id=0,
            hidden_size=16,
            intermediate_size=16,
            num_attention_heads=2,
            num_hidden_layers=1,
            vocab_size=vocab,
            projection_dim=16,
            max_position_embeddings=77,
        )
    )
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=vocab,
            d_model=16,
            d_kv=8,
            d_ff=16,
            num_layers=1,
            num_heads=2,
            decoder_start_token_id=0,
            pad_token_id=0,
            eos_token_id=3,
        )
    )
    # Four blocks: the real VAE's 8× downsampling, so a 1024² output is 64² latent tokens.
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    pipe = FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=clip,
        tokenizer=_tokenizer(77),
        text_encoder_2=t5,
        tokenizer_2=_tokenizer(512),
        transformer=transformer,
    )
    pipe.save_pretrained(str(directory))
    return directory
