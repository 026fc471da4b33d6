"""Deployment of trained networks to Intel Loihi with nengo-loihi.

Installed as ``nengo_mif.deploy``.
"""

from nengo_mif.deploy.training import LOIHI

__all__ = ["LOIHI"]
