"""ganstab: stable GAN training configurations, found, diagnosed and recommended."""

__version__ = "0.1.0"
