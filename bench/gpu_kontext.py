"""FLUX.1 Kontext [dev] on one GPU: seconds per 1024×1024 edit with each speed switch.

Builds the full-size Kontext [dev] transformer from its public config (and the FLUX VAE) with
random bf16 weights — speed does not depend on the weight values, and nothing is
downloaded — then runs a 28-step 1024×1024 edit (image tokens included) four ways:
eager, torch.compile, First Block Cache, and all switches (compile + First Block Cache +
fp8 weights when torchao is installed). The switches are applied by the production code
(`imagine.gpu.runner._apply_switches`). Prompt embeddings are random tensors of the real
shapes (T5-XXL 512×4096, CLIP pooled 768): the text encoders run once per edit and cost
milliseconds next to 28 transformer steps.

First Block Cache skips steps whose first block barely changes the residual: with random
weights its hit rate (and so its speedup) is not the one real weights give; treat that row
as a cost floor, and measure with real weights (IMAGINE_DIFFUSERS_MODEL) before relying on it.

Usage (one H100/H200, the gpu extra installed):
    PYTHONPATH=src .venv/bin/python bench/gpu_kontext.py [--steps 28] [--repeats 2]
Prints a table and writes bench/results/gpu_kontext.json. On a machine without CUDA it
refuses (exit 2); `--smoke` runs a tiny configuration on the CPU to check the script itself.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# The public config of black-forest-labs/FLUX.1-Kontext-dev (transformer/config.json).
KONTEXT_DEV_TRANSFORMER = {
    "attention_head_dim": 128,
    "axes_dims_rope": [16, 56, 56],
    "guidance_embeds": True,
    "in_channels": 64,
    "joint_attention_dim": 4096,
    "num_attention_heads": 24,
    "num_layers": 19,
    "num_single_layers": 38,
    "patch_size": 1,
    "pooled_projection_dim": 768,
}
# … and of its VAE (vae/config.json).
FLUX_VAE = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 16,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "sample_size": 1024,
    "scaling_factor": 0.3611,
    "shift_factor": 0.1159,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}
TINY_TRANSFORMER = {
    **KONTEXT_DEV_TRANSFORMER,
    "attention_head_dim": 8,
    "axes_dims_rope": [2, 2, 4],
    "in_channels": 4,
    "joint_attention_dim": 16,
    "num_attention_heads": 2,
    "num_layers": 1,
    "num_single_layers": 1,
    "pooled_projection_dim": 16,
}
TINY_VAE = {
    **FLUX_VAE,
    "block_out_channels": [4, 4, 4, 4],
    "latent_channels": 1,
    "layers_per_block": 1,
    "norm_num_groups": 1,
}


def build_pipeline(smoke: bool, device: Any) -> Any:
    """A FluxKontextPipeline with random weights and no text encoders."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxTransformer2DModel,
    )

    dtype = torch.float32 if smoke else torch.bfloat16
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            transformer = FluxTransformer2DModel(
                **(TINY_TRANSFORMER if smoke else KONTEXT_DEV_TRANSFORMER)
            )
            vae = AutoencoderKL(**(TINY_VAE if smoke else FLUX_VAE))
    finally:
        torch.set_default_dtype(previous)
    return FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
        vae=vae.to(dtype),
        text_encoder=None,
        tokenizer=None,
        text_encoder_2=None,
        tokenizer_2=None,
        transformer=transformer.to(dtype),
    )


def run_config(name: str, switches: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Build, switch, warm up, then time `args.repeats` edits."""
    import torch
    from PIL import Image

    from imagine.gpu.runner import KontextConfig, KontextRunner, _apply_switches

    device = torch.device("cpu" if args.smoke else "cuda")
    config = replace(KontextConfig(source="random-weights"), **switches)
    if config.fp8:
        try:
            import torchao  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            config = replace(config, fp8=False)
            name += " (no torchao: fp8 off)"
    pipe = build_pipeline(args.smoke, device)
    _apply_switches(pipe, config, device)
    runner = KontextRunner(pipe, device, config)  # its cache context, as in production
    dtype = torch.float32 if args.smoke else torch.bfloat16
    text_dim = 16 if args.smoke else 4096
    pooled_dim = 16 if args.smoke else 768
    embeds = torch.randn(1, 512, text_dim, device=device, dtype=dtype)
    pooled = torch.randn(1, pooled_dim, device=device, dtype=dtype)
    image = Image.new("RGB", (args.size, args.size), (120, 90, 60))

    def edit(steps: int) -> None:
        with torch.inference_mode(), runner._cache_context():
            runner.pipe(
                image=image,
                prompt_embeds=embeds,
                pooled_prompt_embeds=pooled,
                width=args.size,
                height=args.size,
                num_inference_steps=steps,
                guidance_scale=2.5,
                generator=torch.Generator("cpu").manual_seed(0),
                _auto_resize=False,
                max_area=args.size * args.size,
            )
        if device.type == "cuda":
            torch.cuda.synchronize()

    started = time.perf_counter()
    edit(args.steps)  # warm-up: compilation, autotuning, allocator
    warmup = time.perf_counter() - started
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        edit(args.steps)
        times.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    return {
        "config": name,
        "seconds_per_image": min(times),
        "warmup_seconds": warmup,
        "peak_gib": peak,
    }


CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("eager", {}),
    ("torch.compile", {"compile": True}),
    ("first block cache 0.08", {"first_block_cache": 0.08}),
    ("all switches", {"compile": True, "first_block_cache": 0.08, "fp8": True}),
]


def main() -> int:
    """Run every configuration and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny config on the CPU")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "gpu_kontext.json",
    )
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("bench/gpu_kontext.py needs the gpu extra (torch, diffusers).", file=sys.stderr)
        return 2
    if args.smoke:
        args.steps, args.size, args.repeats = min(args.steps, 2), 256, 1
        configs = [c for c in CONFIGS if not c[1].get("compile")]
    elif not torch.cuda.is_available():
        print(
            "bench/gpu_kontext.py measures FLUX.1 Kontext [dev] on a CUDA GPU (H100/H200 class,"
            " 80 GB+); no CUDA device is visible here, so it refuses rather than print"
            " meaningless CPU figures. (--smoke checks the script on the CPU.)",
            file=sys.stderr,
        )
        return 2
    else:
        configs = CONFIGS
        print(f"GPU: {torch.cuda.get_device_name()}  steps: {args.steps}  size: {args.size}²")
    rows = []
    for name, switches in configs:
        rows.append(run_config(name, switches, args))
        gc.collect()  # the previous pipeline's weights, before the next one is built
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    eager = rows[0]["seconds_per_image"]
    print(f"{'config':<34} {'s/image':>8} {'warm-up s':>10} {'peak GiB':>9} {'speedup':>8}")
    for row in rows:
        row["speedup"] = eager / row["seconds_per_image"]
        print(
            f"{row['config']:<34} {row['seconds_per_image']:>8.2f} {row['warmup_seconds']:>10.1f}"
            f" {row['peak_gib']:>9.1f} {row['speedup']:>7.2f}x"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
