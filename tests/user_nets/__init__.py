"""A tiny package of user networks and data factories, written as a user would (no ganstab imports)."""

# What the tests write to train these as a user would (`--set` values): the MLPs on the ring factory.
NETS = "tests.user_nets.nets"
MLP_OVERRIDES = [
    f"model.generator={NETS}:MLPGenerator",
    f"model.discriminator={NETS}:MLPDiscriminator",
    "model.generator_kwargs={latent: 8}",
    "model.latent_dim=8",
    "data.name=factory",
    f"data.factory={NETS}:ring_points",
]
