"""ViML (McKee et al., CVPR 2023) and its baselines on precomputed features: library, training, evaluation.

    from viml_model.train import train            # (config, triplets_glob, features_dir, out_dir, ...)
    from viml_model.evaluate import evaluate      # (checkpoint_dir, triplets_glob, features_dir, pool_size=None)
    from viml_model.ensemble import run_ensemble  # (1-a) s1 + a s2, a tuned on validation
    from viml_model.config import load_config     # "viml" (paper settings), "mvpt", "mt", or a YAML path

Modules, one job each: config (YAML -> validated dataclasses), data (features directory + triplets
readers), dataset (pairs, video split, epoch draws, text dropout, batches), model (encoders, ViML),
fusion (five f^vt variants), loss (InfoNCE), metrics (ranks, recall, median rank), embed (batched
inference), evaluate, ensemble, checkpoint, train, plot, runtime (seeds, device), cli (argparse
subcommands). Configs live in viml_model/configs/*.yaml. Nothing heavy is imported here.
"""
