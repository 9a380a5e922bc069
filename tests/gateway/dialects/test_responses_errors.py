"""The stored-response errors as OpenAI words them, and the error of a failed Response."""

import orjson
import pytest

from apps.core.errors import error_json
from apps.gateway.dialects.responses_errors import PreviousResponseNotFound, ResponseNotFound, response_error


def test_previous_response_not_found_is_openais_404():
    error = PreviousResponseNotFound("resp_gone")
    assert error.status == 404
    assert orjson.loads(error_json(error)) == {
        "error": {
            "message": "Previous response with id 'resp_gone' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
    }


def test_response_not_found_is_a_404_naming_the_id():
    error = ResponseNotFound("resp_" + "x" * 500)
    assert error.status == 404 and error.param is None
    assert error.message == f"Response with id 'resp_{'x' * 95}' not found."


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"message": "slow down", "type": "rate_limit_error"}, {"code": "rate_limit_exceeded", "message": "slow down"}),
        ({"message": "quota", "code": "tpm_limit_rate_limit"}, {"code": "rate_limit_exceeded", "message": "quota"}),
        ({"message": "x", "code": 429}, {"code": "rate_limit_exceeded", "message": "x"}),
        ({"message": "x", "code": True}, {"code": "server_error", "message": "x"}),
        ({"message": "m" * 5000}, {"code": "server_error", "message": "m" * 2000}),
        ("plain", {"code": "server_error", "message": "plain"}),
        ([1], {"code": "server_error", "message": "The model provider's stream reported an error."}),
        ({"message": ""}, {"code": "server_error", "message": "The model provider's stream reported an error."}),
    ],
)
def test_response_error(error, expected):
    assert response_error(error) == expected
