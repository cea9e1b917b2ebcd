"""`viml-synth features`: frozen pretrained encoders turn videos, music and texts into features once;
training reads the features directory (see `schemas.py` for the contract), never the media."""
