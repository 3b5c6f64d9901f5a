import pytest

from painterly.errors import ParameterError
from painterly.params import StyleParams, parse_layer_spec


def test_layer_spec_parsing():
    assert parse_layer_spec("b1.dw:2, b3.dw") == {"b1.dw": 2.0, "b3.dw": 1.0}
    with pytest.raises(ParameterError, match="style_layers: weight 'x'"):
        parse_layer_spec("relu1_1:x", "style_layers")
    with pytest.raises(ParameterError, match="at least one layer"):
        parse_layer_spec(" , ", "style_layers")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"size": 8}, "size"),
        ({"iterations": 0}, "iterations"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"style_weight": -1.0}, "style_weight"),
        ({"style_weight": float("nan")}, "style_weight"),
        ({"style_weights": [0.0, 0.0]}, "style_weights"),
        ({"device": "tpu"}, "device"),
        ({"content_layers": "relu4_2:-1"}, "content_layers"),
    ],
)
def test_invalid_parameters_name_their_field(change, field):
    with pytest.raises(ParameterError) as err:
        StyleParams(**change).validate()
    assert str(err.value).startswith(field + ":")


def test_defaults_are_valid():
    assert StyleParams().validate().size == 512
