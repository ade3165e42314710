"""Where to forget: weight masks (WAGLE, saliency, magnitude, random, a saved file) and pruning, as run options.

    obliviate unlearn ... --method npo --mask wagle:0.5 [--prune 2:4]     # or the spec's `mask:` / `prune:`
    masks, conventions = obliviate.masks.options.prepare(model, tok, forget, retain, "npo", {}, mask="saliency:0.5")

`scores` (the per-weight scores, WAGLE's derivation), `build` (mask forms, global top-fraction selection, saving and
loading), `prune` (magnitude and N:M pruning), `options` (what run.py and the CLI call). The engine holds every
masked-out entry exactly fixed (engine/masking.py). Submodules load on use, so importing this package is cheap.
"""
