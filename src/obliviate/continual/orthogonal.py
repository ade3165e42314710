"""O3's orthogonality penalty between a new LoRA adapter and the previous ones, and how it enters training.

    P(A_t) = λ · Σ_modules Σ_{s<t} ‖A_s A_tᵀ‖²_F        A: the (r, d_in) down-projection of a LoRA adapter

P pushes the new adapter's input subspace (the row space of A_t) away from every earlier adapter's, so that
unlearning request t disturbs little of what requests s < t did. ∂P/∂A_t = 2λ · A_t · Σ_s A_sᵀA_s.

P depends on the weights, not on a batch, so it is not a method's loss (methods are pure losses of batch
statistics): `add_orthogonality` registers it as a gradient term on the new adapter's A matrices (parameter hooks
that add ∂P/∂A_t, divided by the gradient-accumulation count since the hook fires once per micro-batch), which is
the same update as adding P to the loss. It finds the adapters at the first forward pass with gradients (the engine
wraps the model with peft inside `unlearn`).
"""
from __future__ import annotations

import torch


def orthogonality_penalty(current: dict[str, torch.Tensor], previous: list[dict[str, torch.Tensor]],
                          weight: float = 1.0) -> torch.Tensor:
    """λ Σ_m Σ_s ‖A_s[m] A_t[m]ᵀ‖²_F over the modules m of `current` ({module: A_t (r, d)}); modules an earlier
    adapter lacks contribute nothing."""
    total = torch.zeros(())
    for m, a_t in current.items():
        for prev in previous:
            if m in prev:
                total = total + (prev[m].to(a_t) @ a_t.T).pow(2).sum()
    return weight * total


def penalty_grad(a_t: torch.Tensor, previous_a: list[torch.Tensor], weight: float) -> torch.Tensor:
    """∂/∂A_t of λ Σ_s ‖A_s A_tᵀ‖²_F = 2λ A_t Σ_s A_sᵀ A_s."""
    gram = sum(p.to(a_t).T @ p.to(a_t) for p in previous_a)
    return 2.0 * weight * a_t @ gram


def module_key(param_name: str) -> str:
    """`base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight` → `model.layers.0.self_attn.q_proj`."""
    name = param_name.removeprefix("base_model.model.")
    return name.split(".lora_A.")[0].split(".lora_B.")[0]


def lora_matrices(model, which: str = "lora_A", trainable_only: bool = True) -> dict[str, torch.Tensor]:
    """{module key: weight} of the model's LoRA `which` matrices (A: (r, d_in), B: (d_out, r))."""
    return {module_key(n): p for n, p in model.named_parameters()
            if f".{which}." in n and (p.requires_grad or not trainable_only)}


def add_orthogonality(model, previous: list[dict[str, torch.Tensor]], weight: float, grad_accum: int = 1):
    """Make the next LoRA training of `model` minimise the loss + P (see the module docstring); returns a handle
    whose `remove()` detaches everything and whose `hooked` lists the A matrices found."""
    handles, state = [], {"hooked": []}

    def find_adapters(module, args, kwargs):
        if not torch.is_grad_enabled() or state["hooked"]:
            return
        for m, a in lora_matrices(module).items():
            prev = [p[m].detach() for p in previous if m in p]
            if prev:
                handles.append(a.register_hook(
                    lambda g, a=a, prev=prev: g + penalty_grad(a.detach(), prev, weight) / grad_accum))
            state["hooked"].append(m)

    pre = model.register_forward_pre_hook(find_adapters, with_kwargs=True)

    class Handle:
        hooked = state["hooked"]

        @staticmethod
        def remove():
            pre.remove()
            for h in handles:
                h.remove()

    return Handle()
