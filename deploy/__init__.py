"""Deployment of trained networks to Intel Loihi with nengo-loihi.

Installed as ``nengo_mif.deploy``.
"""
