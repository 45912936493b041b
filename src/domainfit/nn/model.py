"""The CNN estimator: the imaging-scale paper's six conv blocks, with a mean and a spread per output.

Architecture (Watanabe et al., imaging-scale paper): six blocks of 3×3 convolution (16, 32, 64, 64,
128, 128 filters, 'same' padding) → batch norm → ReLU → 2×2 max-pool, then one dense layer. Our
dense layer has 2·K outputs: the means of the K normalised targets and their log standard
deviations, trained by the Gaussian negative log-likelihood (``train``), so every prediction comes
with its spread.

Batch norm is ``eqx.nn.BatchNorm(mode="batch")`` (PyTorch-like: batch statistics in training,
running averages in inference), so the model is called with an ``eqx.nn.State`` and must run under
``vmap(..., axis_name="batch")`` — ``forward`` does that. ``norm="group"`` swaps in GroupNorm
(no state used, identical behaviour in training and inference) for small-batch training.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float, Key
from ..errors import DomainfitError

DEFAULT_WIDTHS: tuple[int, ...] = (16, 32, 64, 64, 128, 128)
LOG_SD_BOUND = 6.0
"""Predicted log-sd (of a normalised target) is squashed smoothly into (−6, 6)."""


class CNN(eqx.Module):
    """Six conv-norm-ReLU-maxpool blocks and a dense head → (means [K], log-sds [K]).

    Input: one image [P, P] (contrast, m_z units) at the model pixel size. P must be divisible by
    2^len(widths).
    """

    convs: tuple[eqx.nn.Conv2d, ...]
    norms: tuple
    head: eqx.nn.Linear
    in_pixels: int = eqx.field(static=True)
    widths: tuple[int, ...] = eqx.field(static=True)
    n_out: int = eqx.field(static=True)
    norm: str = eqx.field(static=True)

    def __init__(
        self,
        *,
        in_pixels: int = 128,
        widths: tuple[int, ...] = DEFAULT_WIDTHS,
        n_out: int = 3,
        norm: Literal["batch", "group"] = "batch",
        key: Key[Array, ""],
    ):
        widths = tuple(int(w) for w in widths)
        if not widths or any(w < 1 for w in widths):
            raise DomainfitError(f"CNN widths {widths}: need positive channel counts")
        if in_pixels % (2 ** len(widths)) or in_pixels < 2 ** len(widths):
            raise DomainfitError(f"CNN input {in_pixels} px: must be a multiple of {2 ** len(widths)}")
        if norm not in ("batch", "group"):
            raise DomainfitError(f"normalisation {norm!r}: use 'batch' or 'group'")
        keys = jax.random.split(key, len(widths) + 1)
        convs, norms, c_in = [], [], 1
        for k, c in zip(keys[:-1], widths):
            convs.append(eqx.nn.Conv2d(c_in, c, 3, padding=1, key=k))
            if norm == "batch":
                norms.append(eqx.nn.BatchNorm(c, axis_name="batch", momentum=0.9, mode="batch"))
            else:
                norms.append(eqx.nn.GroupNorm(min(8, c) if c % min(8, c) == 0 else 1, c))
            c_in = c
        side = in_pixels // 2 ** len(widths)
        self.convs, self.norms = tuple(convs), tuple(norms)
        self.head = eqx.nn.Linear(c_in * side * side, 2 * n_out, key=keys[-1])
        self.in_pixels, self.widths, self.n_out, self.norm = in_pixels, widths, n_out, norm

    def features(self, image: Float[Array, "P P"], state: eqx.nn.State) -> tuple[Float[Array, " F"], eqx.nn.State]:
        """The flattened output of the last conv block, what the dense head reads (F = widths[-1]·side²)."""
        x = image[None].astype(jnp.float32)
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x.astype(conv.weight.dtype))  # pooling may promote to float64 under jax_enable_x64
            if isinstance(norm, eqx.nn.BatchNorm):
                x, state = norm(x, state)
            else:
                x = norm(x)
            x = jax.nn.relu(x)
            x = eqx.nn.MaxPool2d(2, 2)(x)
        return x.reshape(-1), state

    def head_output(self, features: Float[Array, " F"]) -> Float[Array, " 2K"]:
        """(means, log-sds) from the features: the dense layer and the log-sd bound."""
        out = self.head(features)
        mean, raw = out[: self.n_out], out[self.n_out :]
        return jnp.concatenate([mean, LOG_SD_BOUND * jnp.tanh(raw / LOG_SD_BOUND)])

    def __call__(self, image: Float[Array, "P P"], state: eqx.nn.State) -> tuple[Float[Array, " 2K"], eqx.nn.State]:
        x, state = self.features(image, state)
        return self.head_output(x), state


def make_model(
    *, in_pixels: int = 128, widths: tuple[int, ...] = DEFAULT_WIDTHS, n_out: int = 3, norm: str = "batch", key
) -> tuple[CNN, eqx.nn.State]:
    """A freshly initialised ``CNN`` and its batch-norm state.

    Same distributions as equinox's own initialisation (weights and biases of a convolution or
    dense layer ~ U(−1/√fan_in, 1/√fan_in); norm scales 1, offsets 0; running mean 0, variance 1),
    drawn with NumPy from ``key``: building the model then needs no XLA compilation, which on a
    CPU took longer than a hundred training steps of a tiny model.
    """
    model, state = model_shape(in_pixels=in_pixels, widths=widths, n_out=n_out, norm=norm)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
    last_fan_in = [1]

    def fill_model(path, leaf):
        if not isinstance(leaf, jax.ShapeDtypeStruct):
            return leaf
        name = jax.tree_util.keystr(path)
        if ".norms[" in name:
            value = np.ones(leaf.shape) if name.endswith(".weight") else np.zeros(leaf.shape)
        else:
            if name.endswith(".weight"):
                last_fan_in[0] = int(np.prod(leaf.shape[1:]))
            lim = 1.0 / np.sqrt(last_fan_in[0])
            value = rng.uniform(-lim, lim, leaf.shape)
        return jnp.asarray(value, dtype=leaf.dtype)

    def fill_state(path, leaf):
        if not isinstance(leaf, jax.ShapeDtypeStruct):
            return leaf
        is_var = len(path) > 1 and getattr(path[-1], "idx", 0) == 1  # (running mean, running variance)
        return jnp.asarray(np.ones(leaf.shape) if is_var else np.zeros(leaf.shape), dtype=leaf.dtype)

    model = jax.tree_util.tree_map_with_path(fill_model, model)
    state = jax.tree_util.tree_map_with_path(fill_state, state)
    return model, state


def model_shape(*, in_pixels: int = 128, widths=DEFAULT_WIDTHS, n_out: int = 3, norm: str = "batch"):
    """(model, state) with ``jax.ShapeDtypeStruct`` leaves: a skeleton for deserialisation, no compute."""
    return eqx.filter_eval_shape(
        lambda k: eqx.nn.make_with_state(CNN)(in_pixels=in_pixels, widths=tuple(widths), n_out=n_out, norm=norm, key=k),
        jax.random.key(0),
    )


def forward(
    model: CNN, state: eqx.nn.State, images: Float[Array, "N P P"]
) -> tuple[Float[Array, "N K"], Float[Array, "N K"], eqx.nn.State]:
    """Batched call: (means, log-sds) of the normalised targets and the updated state."""
    out, state = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(images, state)
    return out[:, : model.n_out], out[:, model.n_out :], state


@eqx.filter_jit
def predict_with_features(model: CNN, state: eqx.nn.State, images: Float[Array, "N P P"]):
    """Inference-mode (means, log-sds, features [N, F]) in one pass (features: ``CNN.features``)."""
    model = eqx.nn.inference_mode(model)
    feats = jax.vmap(lambda im: model.features(im, state)[0])(images)
    out = jax.vmap(model.head_output)(feats)
    return out[:, : model.n_out], out[:, model.n_out :], feats


@eqx.filter_jit
def predict(model: CNN, state: eqx.nn.State, images: Float[Array, "N P P"]) -> tuple[Float[Array, "N K"], Float[Array, "N K"]]:
    """Inference-mode (running batch-norm statistics) means and log-sds of the normalised targets."""
    mean, log_sd, _ = forward(eqx.nn.inference_mode(model), state, images)
    return mean, log_sd
