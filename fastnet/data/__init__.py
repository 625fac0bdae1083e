# Data files shipped with fastnet (see fastnet/datasets.py).
