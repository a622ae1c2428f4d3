"""What is known of a run for its advice: checked key by key, put in words, and which losses
"D wins" means anything for."""

from __future__ import annotations

import pytest

from ganstab.diagnose.advice import advice_for
from ganstab.diagnose.context import check_context, describe_context, loss_key, reads_d_wins


def test_a_bad_context_key_or_value_names_it():
    with pytest.raises(ValueError, match="Unknown G architecture 'cnn'; expected one of: mlp, mlp-bn, conv, user"):
        advice_for("collapsing", {}, {"g": "cnn"})
    with pytest.raises(ValueError, match="Unknown loss 'wgan'; expected one of: ns, minimax, ls, hinge, wgan-gp"):
        advice_for("collapsing", {}, {"loss": "wgan"})
    with pytest.raises(ValueError, match="Unknown context key 'arch' \\(value 'conv'\\)"):
        advice_for("collapsing", {}, {"arch": "conv"})


def test_a_context_is_checked_and_its_unknown_values_dropped():
    assert check_context(None) == {}
    assert check_context({"data": "images", "g": None, "loss": "hinge"}) == {"data": "images", "loss": "hinge"}
    with pytest.raises(ValueError, match="Unknown data context 'any'"):  # "any" is the table's, not the user's
        check_context({"data": "any"})


def test_a_context_in_words():
    context = {"data": "2-D mixtures", "g": "mlp", "loss": "hinge"}
    assert describe_context(context) == "2-D mixtures, G an MLP without BatchNorm, loss hinge"
    assert describe_context({"g": "conv"}) == "G a conv net with BatchNorm"
    assert describe_context({}) == ""
    assert loss_key("images", "ns") == "images, loss ns"


def test_d_wins_is_read_only_for_losses_with_a_real_label():
    assert reads_d_wins(None) and reads_d_wins("ns") and reads_d_wins("ls")
    assert not reads_d_wins("hinge") and not reads_d_wins("wgan-gp")
