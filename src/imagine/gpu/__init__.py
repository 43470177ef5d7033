"""Local FLUX.1 Kontext [dev] on GPUs: the diffusers engine, its worker app and Ray Serve.

Only `sizes` is torch-free; the other modules import torch/diffusers and are imported only
when the `diffusers` engine or an `imagine gpu` command is used (the `gpu` extra).
"""
